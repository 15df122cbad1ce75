/**
 * Planning figures edge users ask first: how big is this model at F16, Q8_0 or
 * Q4_0, and how much memory does it need at a given context? Estimates, not
 * measurements: `edgelm bench` measures the real peak RSS.
 */
import { readCpuFeatures, weightCopies, type CpuFeatures } from "./cpu-repack.js";
import type { GgufFile } from "./gguf-reader.js";
import type { GgufSummary } from "./gguf-summary.js";
import { metaNumber } from "./gguf-values.js";
import { plannedByteSize, planTensorTypes, quantTarget, type QuantTargetName } from "./quant/tensor-type-plan.js";

/**
 * File size in bytes the model would have quantized to `target` (header
 * excluded), planned by the same rules `edgelm quantize` follows.
 */
export function sizeAtTarget(file: GgufFile, target: QuantTargetName): number {
  let bytes = 0;
  for (const planned of planTensorTypes(file.tensors, quantTarget(target))) bytes += plannedByteSize(planned);
  return bytes;
}

/** `engine.mmap`: map the model file (on), read it (off), or auto: read it when the engine copies any of its weights. */
export type MmapSetting = "auto" | "on" | "off";

/** Whether a model is mapped under `setting` when the engine copies `copiedBytes` of its weights (engine/weight-residency.ts says why). */
export function chooseMmap(setting: MmapSetting | undefined, copiedBytes: number): boolean {
  if (setting === "on") return true;
  if (setting === "off") return false;
  return copiedBytes === 0;
}

export interface MemoryEstimate {
  contextSize: number;
  /** The weights as the file holds them (mapped file pages, resident once loaded; or read into memory). */
  weightsBytes: number;
  /** The second, repacked copy of some weights that llama.cpp's CPU backend makes on this CPU (cpu-repack.ts). */
  repackedBytes: number;
  /** Whether the engine maps the file: then the repacked matrices' file pages stay resident beside their copy. */
  mmap: boolean;
  /** K and V caches at F16 for every layer. */
  kvCacheBytes: number;
  /** Scratch buffers for one 512-token batch (attention scores dominate at long contexts). */
  computeBytes: number;
  totalBytes: number;
}

/** The widths a memory estimate needs, with llama.cpp's defaults where the metadata leaves one out. */
export interface ModelShape {
  layers: number;
  embd: number;
  heads: number;
  headsKv: number;
  keyLength: number;
  valueLength: number;
  ff: number;
  vocab: number;
}

/** The model's layer count and widths (head sizes from `<arch>.attention.key_length`/`value_length`, else embd / heads). */
export function modelShape(file: GgufFile, summary: GgufSummary): ModelShape {
  const arch = summary.architecture ?? "";
  const embd = summary.embeddingLength ?? 0;
  const heads = summary.headCount ?? 1;
  const keyLength = metaNumber(file.metadata, `${arch}.attention.key_length`) ?? (heads > 0 ? embd / heads : 0);
  return {
    layers: summary.blockCount ?? 0,
    embd,
    heads,
    headsKv: summary.headCountKv ?? heads,
    keyLength,
    valueLength: metaNumber(file.metadata, `${arch}.attention.value_length`) ?? keyLength,
    ff: summary.feedForwardLength ?? 4 * embd,
    vocab: summary.vocabSize ?? 0,
  };
}

/**
 * What one runner keeps resident for the model (runner process baseline excluded): the weights, the repacked copy
 * on this CPU (beside the mapped originals when the file is mapped; instead of them when it is read), the KV cache
 * for `contextSize` × `sequences` cells and the compute buffers.
 * @param contextSize tokens per sequence
 * @param batchSize tokens per decode batch (default 512)
 * @param sequences sequences decoded together (default 1)
 * @param cpu the CPU features the engine uses (default: this CPU's, from /proc/cpuinfo; engine/weight-residency.ts
 *   narrows them per engine)
 * @param mmap engine.mmap (default auto: mapped only when nothing is copied)
 */
export function estimateMemory(
  file: GgufFile,
  summary: GgufSummary,
  contextSize: number,
  batchSize = 512,
  sequences = 1,
  cpu: CpuFeatures = readCpuFeatures(),
  mmap: MmapSetting = "auto",
): MemoryEstimate {
  const { layers, embd, heads, headsKv, keyLength, valueLength, ff, vocab } = modelShape(file, summary);
  const cells = contextSize * sequences;
  const kvCacheBytes = layers * cells * headsKv * (keyLength + valueLength) * 2;
  const batch = Math.min(batchSize, cells);
  const computeBytes = 4 * batch * (heads * Math.min(cells, contextSize) + 4 * embd + 2 * ff) + 4 * vocab * Math.max(sequences, 8);
  const weightsBytes = summary.weightBytes;
  const { copyBytes: repackedBytes, replacedBytes } = weightCopies(file, cpu);
  const mapped = chooseMmap(mmap, repackedBytes);
  const weightsResident = weightsBytes + repackedBytes - (mapped ? 0 : replacedBytes);
  return { contextSize, weightsBytes, repackedBytes, mmap: mapped, kvCacheBytes, computeBytes, totalBytes: weightsResident + kvCacheBytes + computeBytes };
}
