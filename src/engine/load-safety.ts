/**
 * Checks that go beyond GGUF well-formedness: things llama.cpp does not check
 * itself and would abort the process on (an uncatchable native crash). A file
 * that fails here never reaches native code.
 */
import { EdgeError } from "../errors.js";
import { readGguf, type GgufFile } from "../gguf/gguf-reader.js";
import { metaArray, metaNumber, metaString } from "../gguf/gguf-values.js";
import { checkHyperparameters } from "./hyperparameter-safety.js";

/**
 * Types ggml's CPU backend has no dot product for: they exist for activations
 * and intermediate quantization, and a weight of one of them crashes the first
 * matrix multiplication (SIGSEGV, found by fuzzing).
 */
const NON_WEIGHT_TYPES = new Set(["Q8_1", "Q8_K", "I8", "I16", "I32", "I64", "F64"]);

function unsafe(path: string, message: string): EdgeError {
  return new EdgeError("invalid_gguf", `${path}: ${message}`);
}

export function checkLoadableFile(file: GgufFile, path: string): void {
  const m = file.metadata;
  const architecture = metaString(m, "general.architecture");
  if (!architecture) throw unsafe(path, "general.architecture is missing; this is not a model file llama.cpp can load");
  if (file.tensors.length === 0) throw unsafe(path, "the file holds no tensors");
  const oddTensor = file.tensors.find((t) => NON_WEIGHT_TYPES.has(t.type.name));
  if (oddTensor) throw unsafe(path, `tensor "${oddTensor.name}" has type ${oddTensor.type.name}, which llama.cpp cannot compute with (it would crash)`);
  checkHyperparameters(file, path);
  const tokens = metaArray(m, "tokenizer.ggml.tokens");
  const model = metaString(m, "tokenizer.ggml.model");
  if (tokens === undefined) {
    if (model !== undefined && model !== "none") throw unsafe(path, "tokenizer.ggml.tokens is missing");
    return;
  }
  if (!tokens.every((t) => typeof t === "string")) throw unsafe(path, "tokenizer.ggml.tokens must be an array of strings");
  // llama.cpp asserts that every token maps to one id and back (GGML_ASSERT, a process abort),
  // comparing tokens as C strings: text after a NUL does not count.
  const seen = new Set<string>();
  const duplicate = (tokens as string[]).find((t) => seen.size === seen.add(t.split("\0")[0]!).size);
  if (duplicate !== undefined) {
    throw unsafe(path, `tokenizer.ggml.tokens lists ${JSON.stringify(duplicate.split("\0")[0])} twice; llama.cpp would abort on it`);
  }
  for (const key of ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"]) {
    const values = metaArray(m, key);
    if (values !== undefined && values.length !== tokens.length) {
      throw unsafe(path, `${key} has ${values.length} entries but the vocabulary has ${tokens.length}`);
    }
  }
  for (const key of [
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id",
  ]) {
    const id = metaNumber(m, key);
    // 0xFFFFFFFF and -1 mean "none" in the wild; anything else must be a real token.
    if (id !== undefined && id !== -1 && id !== 0xffffffff && (id < 0 || id >= tokens.length)) {
      throw unsafe(path, `${key} is ${id} but the vocabulary has ${tokens.length} tokens`);
    }
  }
  if (model === "llama") {
    // llama.cpp's SPM tokenizer falls back to byte tokens and aborts when one is missing.
    const set = new Set(tokens as string[]);
    for (let b = 0; b < 256; b++) {
      const piece = `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
      if (!set.has(piece) && !(b < 128 && set.has(String.fromCharCode(b)))) {
        throw unsafe(path, `the SentencePiece vocabulary lacks the byte token ${piece}, which llama.cpp needs`);
      }
    }
  }
}

/** Reads and checks a file; returns the parsed header for callers that need it. */
export function checkLoadable(path: string): GgufFile {
  const file = readGguf(path);
  checkLoadableFile(file, path);
  return file;
}
