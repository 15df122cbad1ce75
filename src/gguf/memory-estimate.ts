/**
 * Planning figures edge users ask first: how big is this model at F16, Q8_0 or
 * Q4_0, and how much memory does it need at a given context? Estimates, not
 * measurements: `edgelm bench` measures the real peak RSS.
 */
import { GGML_TYPE, ggmlTypeInfo, type GgmlTypeInfo } from "./ggml-types.js";
import type { GgufFile, GgufTensorInfo } from "./gguf-reader.js";
import type { GgufSummary } from "./gguf-summary.js";
import { metaNumber } from "./gguf-values.js";

/**
 * The type a tensor gets when a model is converted to `target`, following
 * llama.cpp's main rules: 1-D tensors (norms, biases) stay F32; a row length
 * that is not a whole number of blocks falls back to F16.
 */
export function plannedTensorType(tensor: GgufTensorInfo, target: GgmlTypeInfo): GgmlTypeInfo {
  if (tensor.dims.length < 2) return ggmlTypeInfo(GGML_TYPE.F32)!;
  if (tensor.dims[0]! % target.blockSize !== 0) return ggmlTypeInfo(GGML_TYPE.F16)!;
  return target;
}

/** File size in bytes the model would have with its weights at `target` (header excluded). */
export function sizeAtType(file: GgufFile, target: GgmlTypeInfo): number {
  let bytes = 0;
  for (const tensor of file.tensors) {
    const type = plannedTensorType(tensor, target);
    bytes += (tensor.elementCount / type.blockSize) * type.typeSize;
  }
  return bytes;
}

export interface MemoryEstimate {
  contextSize: number;
  weightsBytes: number;
  /** K and V caches at F16 for every layer. */
  kvCacheBytes: number;
  /** Scratch buffers for one 512-token batch (attention scores dominate at long contexts). */
  computeBytes: number;
  totalBytes: number;
}

export function estimateMemory(file: GgufFile, summary: GgufSummary, contextSize: number, batchSize = 512, sequences = 1): MemoryEstimate {
  const arch = summary.architecture ?? "";
  const layers = summary.blockCount ?? 0;
  const embd = summary.embeddingLength ?? 0;
  const heads = summary.headCount ?? 1;
  const headsKv = summary.headCountKv ?? heads;
  const keyLength = metaNumber(file.metadata, `${arch}.attention.key_length`) ?? (heads > 0 ? embd / heads : 0);
  const valueLength = metaNumber(file.metadata, `${arch}.attention.value_length`) ?? keyLength;
  const cells = contextSize * sequences;
  const kvCacheBytes = layers * cells * headsKv * (keyLength + valueLength) * 2;
  const batch = Math.min(batchSize, cells);
  const ff = summary.feedForwardLength ?? 4 * embd;
  const vocab = summary.vocabSize ?? 0;
  const computeBytes = 4 * batch * (heads * Math.min(cells, contextSize) + 4 * embd + 2 * ff) + 4 * vocab * Math.max(sequences, 8);
  const weightsBytes = summary.weightBytes;
  return { contextSize, weightsBytes, kvCacheBytes, computeBytes, totalBytes: weightsBytes + kvCacheBytes + computeBytes };
}
