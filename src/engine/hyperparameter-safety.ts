/**
 * Hyperparameters llama.cpp trusts without checking: a block count past its
 * layer limit, a negative or NaN norm epsilon, head counts or widths that make
 * a tensor dimension zero or overflow 32 bits all end in GGML_ASSERT — an
 * abort that takes the whole process down. Found by fuzzing (bench/fuzz-gguf);
 * each rule names the limit llama.cpp asserts or the arithmetic it does.
 */
import { EdgeError } from "../errors.js";
import type { GgufFile } from "../gguf/gguf-reader.js";
import { metaString, type GgufMetadata } from "../gguf/gguf-values.js";

/** llama.cpp's LLAMA_MAX_LAYERS and LLAMA_MAX_EXPERTS. */
const MAX_LAYERS = 512;
const MAX_EXPERTS = 1024;
/** Far above any real model, far below 32-bit overflow in llama.cpp's shape arithmetic. */
const MAX_WIDTH = 1 << 20;
const MAX_HEADS = 1 << 14;
const MAX_HEAD_DIM = 1 << 14;
const ROPE_SCALING_TYPES = ["none", "linear", "yarn", "longrope"];
/**
 * Dense transformers whose every layer has attention and a feed-forward block:
 * llama.cpp builds their tensors from these counts, so a zero makes a
 * zero-sized tensor (an assertion). Recurrent and hybrid architectures
 * legitimately use 0 and are only range-checked.
 */
const DENSE_ARCHITECTURES = new Set([
  "llama", "mistral3", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3", "granite", "stablelm", "starcoder2",
  "olmo", "olmo2", "internlm2", "minicpm", "exaone", "smollm3", "gpt2", "phi2", "falcon", "baichuan", "command-r", "cohere2",
]);

function unsafe(path: string, message: string): EdgeError {
  return new EdgeError("invalid_gguf", `${path}: ${message} (llama.cpp would abort on it)`);
}

/** An integer scalar, or each entry of an integer array, of a metadata key; undefined when absent. */
function integers(m: GgufMetadata, key: string, path: string): number[] | undefined {
  const value = m[key];
  if (value === undefined) return undefined;
  const items = Array.isArray(value) ? value : [value];
  return items.map((item) => {
    const n = typeof item === "bigint" ? Number(item) : item;
    if (typeof n !== "number" || !Number.isInteger(n)) throw unsafe(path, `${key} must be an integer${Array.isArray(value) ? " array" : ""}`);
    return n;
  });
}

function scalar(m: GgufMetadata, key: string, path: string): number | undefined {
  const values = integers(m, key, path);
  if (values && (values.length !== 1 || Array.isArray(m[key]))) throw unsafe(path, `${key} must be a single integer`);
  return values?.[0];
}

function inRange(path: string, key: string, values: number[] | undefined, min: number, max: number): void {
  for (const v of values ?? []) {
    if (v < min || v > max) throw unsafe(path, `${key} is ${v}; it must be between ${min} and ${max}`);
  }
}

/** Checks the `<arch>.*` hyperparameters of a model before llama.cpp reads them. */
export function checkHyperparameters(file: GgufFile, path: string): void {
  const m = file.metadata;
  const arch = metaString(m, "general.architecture");
  if (!arch) return;
  const k = (name: string) => `${arch}.${name}`;

  const blocks = scalar(m, k("block_count"), path);
  inRange(path, k("block_count"), blocks === undefined ? undefined : [blocks], 1, MAX_LAYERS);
  const embedding = scalar(m, k("embedding_length"), path);
  inRange(path, k("embedding_length"), embedding === undefined ? undefined : [embedding], 1, MAX_WIDTH);
  inRange(path, k("context_length"), integers(m, k("context_length"), path), 1, 2 ** 32 - 1);
  inRange(path, k("vocab_size"), integers(m, k("vocab_size"), path), 1, MAX_WIDTH * 16);
  const nextn = scalar(m, k("nextn_predict_layers"), path);
  if (nextn !== undefined && blocks !== undefined) inRange(path, k("nextn_predict_layers"), [nextn], 0, blocks);

  const dense = DENSE_ARCHITECTURES.has(arch);
  const minimum = dense ? 1 : 0;
  if (dense) {
    // llama.cpp reads these as optional and builds zero-sized tensors without them.
    for (const name of ["block_count", "embedding_length", "feed_forward_length", "attention.head_count"]) {
      if (m[k(name)] === undefined) throw unsafe(path, `${k(name)} is missing`);
    }
  }
  const ff = integers(m, k("feed_forward_length"), path);
  const heads = integers(m, k("attention.head_count"), path);
  const kvHeads = integers(m, k("attention.head_count_kv"), path);
  inRange(path, k("feed_forward_length"), ff, minimum, MAX_WIDTH);
  inRange(path, k("attention.head_count"), heads, minimum, MAX_HEADS);
  inRange(path, k("attention.head_count_kv"), kvHeads, minimum, MAX_HEADS);
  for (const [key, values] of [[k("feed_forward_length"), ff], [k("attention.head_count"), heads], [k("attention.head_count_kv"), kvHeads]] as const) {
    // A per-layer array must have one entry per block (llama.cpp reads block_count entries).
    if (values && Array.isArray(m[key]) && blocks !== undefined && values.length !== blocks) {
      throw unsafe(path, `${key} has ${values.length} entries but the model has ${blocks} blocks`);
    }
  }
  const keyLength = scalar(m, k("attention.key_length"), path);
  const valueLength = scalar(m, k("attention.value_length"), path);
  inRange(path, k("attention.key_length"), keyLength === undefined ? undefined : [keyLength], 1, MAX_HEAD_DIM);
  inRange(path, k("attention.value_length"), valueLength === undefined ? undefined : [valueLength], 1, MAX_HEAD_DIM);
  const maxHeads = Math.max(0, ...(heads ?? []));
  if (maxHeads > 0 && embedding !== undefined) {
    // Without key_length llama.cpp uses embedding_length / head_count as the head size.
    const headDim = keyLength ?? Math.floor(embedding / maxHeads);
    if (headDim < 1) throw unsafe(path, `${k("embedding_length")} ${embedding} is smaller than ${k("attention.head_count")} ${maxHeads}`);
    if (headDim * maxHeads > MAX_WIDTH * 4) throw unsafe(path, `heads × head size (${maxHeads} × ${headDim}) is absurd`);
    inRange(path, k("rope.dimension_count"), integers(m, k("rope.dimension_count"), path), 0, headDim);
  }
  if (dense && heads && kvHeads) {
    for (let i = 0; i < Math.max(heads.length, kvHeads.length); i++) {
      const h = heads[Math.min(i, heads.length - 1)]!;
      const kv = kvHeads[Math.min(i, kvHeads.length - 1)]!;
      if (kv > h || h % kv !== 0) throw unsafe(path, `${k("attention.head_count")} ${h} is not a multiple of ${k("attention.head_count_kv")} ${kv}`);
    }
  }

  for (const key of [k("attention.layer_norm_rms_epsilon"), k("attention.layer_norm_epsilon")]) {
    const eps = m[key];
    if (eps !== undefined && (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0)) {
      throw unsafe(path, `${key} is ${String(eps)}; it must be a finite number ≥ 0`);
    }
  }
  const scaling = m[k("rope.scaling.type")];
  if (scaling !== undefined && (typeof scaling !== "string" || !ROPE_SCALING_TYPES.includes(scaling))) {
    throw unsafe(path, `${k("rope.scaling.type")} is ${JSON.stringify(scaling)}; it must be one of ${ROPE_SCALING_TYPES.join(", ")}`);
  }

  const experts = scalar(m, k("expert_count"), path) ?? 0;
  inRange(path, k("expert_count"), [experts], 0, MAX_EXPERTS);
  const used = integers(m, k("expert_used_count"), path) ?? [];
  inRange(path, k("expert_used_count"), used, experts > 0 ? 1 : 0, experts);
}
