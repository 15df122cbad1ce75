/**
 * Tensors as F32 values: reading one tensor of a GGUF file (F32, F16, BF16 or
 * a quantized type, decoded as ggml's to_float does), and writing an all-F32
 * copy of a model, which is what llama.cpp's training API trains.
 */
import { open, type FileHandle } from "node:fs/promises";
import { EdgeError, toEdgeError } from "../errors.js";
import { GGML_TYPE, ggmlTypeInfo, LLAMA_FILE_TYPE } from "./ggml-types.js";
import type { GgufFile, GgufTensorInfo } from "./gguf-reader.js";
import { GgufValueType } from "./gguf-values.js";
import { writeGguf, type GgufTensorSpec } from "./gguf-writer.js";
import { decodeTensor } from "./quant/tensor-codec.js";
import { readTensorBytes } from "./tensor-bytes.js";
import { typedMetadata } from "./typed-metadata.js";

/** Reads `tensor` of an open GGUF file as F32 values (elementCount of them). */
export async function readTensorF32(handle: FileHandle, tensor: GgufTensorInfo, where: string): Promise<Float32Array> {
  const bytes = await readTensorBytes(handle, tensor, where);
  if (tensor.type.id === GGML_TYPE.F32) return new Float32Array(bytes.buffer, 0, tensor.elementCount);
  try {
    return decodeTensor(tensor.type, bytes);
  } catch {
    throw new EdgeError("unsupported_model", `${where}: tensor ${tensor.name} is ${tensor.type.name}, which edgelm cannot decode`);
  }
}

/** Weight types an F32 copy can be made from without loss of what the file holds. */
const WIDENABLE = new Set<number>([GGML_TYPE.F32, GGML_TYPE.F16, GGML_TYPE.BF16]);

/** True when every tensor of `file` is F32. */
export function isAllF32(file: GgufFile): boolean {
  return file.tensors.every((t) => t.type.id === GGML_TYPE.F32);
}

/**
 * Writes an all-F32 copy of the model at `input` (parsed as `file`) to `output`: F16 and BF16 tensors are
 * widened exactly, metadata is kept (general.file_type becomes ALL_F32). A quantized tensor is
 * `unsupported_model`: training a dequantized copy would not be the model that was asked for.
 */
export async function writeF32Copy(input: string, file: GgufFile, output: string): Promise<number> {
  const bad = file.tensors.find((t) => !WIDENABLE.has(t.type.id));
  if (bad) {
    throw new EdgeError(
      "unsupported_model",
      `${input}: tensor ${bad.name} is ${bad.type.name}; fine-tuning needs an F32, F16 or BF16 model (train the unquantized original, then quantize the result)`,
    );
  }
  const metadata = typedMetadata(file, input);
  if (metadata.has("general.file_type")) metadata.set("general.file_type", { type: GgufValueType.UINT32, value: LLAMA_FILE_TYPE.ALL_F32! });
  const F32 = ggmlTypeInfo(GGML_TYPE.F32)!;
  const handle = await open(input, "r").catch((error: unknown) => {
    throw toEdgeError(error, `cannot open ${input}`);
  });
  try {
    const tensors: GgufTensorSpec[] = file.tensors.map((t) => ({
      name: t.name,
      dims: t.dims,
      type: F32,
      data: async function* () {
        const values = await readTensorF32(handle, t, input);
        yield new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      },
    }));
    return await writeGguf(output, { metadata, tensors });
  } finally {
    await handle.close();
  }
}
