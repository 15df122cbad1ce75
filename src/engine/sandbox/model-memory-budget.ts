/**
 * The memory a runner's model is expected to need (weights, KV cache, compute
 * buffers), from the GGUF header, for the runner's data limit. Unknown (a file
 * that cannot be read: the engine reports why) is `undefined`.
 */
import { readGguf } from "../../gguf/gguf-reader.js";
import { summarizeGguf } from "../../gguf/gguf-summary.js";
import { estimateMemory } from "../../gguf/memory-estimate.js";

/** Context size assumed when the spec leaves it to the model (the engines cap it at 4096). */
const DEFAULT_CONTEXT = 4096;

/**
 * Estimated bytes for `path` at `contextSize` tokens (default 4096) per sequence and `sequences` (default 1) sequences,
 * plus `adapterContexts.count` contexts of `adapterContexts.sequences` sequences each (node-llama-cpp's contexts of
 * per-request adapter sets: their KV cache and compute buffers; the weights are shared).
 */
export function modelMemoryBudget(path: string, contextSize?: number, sequences = 1, batchSize = 512, adapterContexts?: { count: number; sequences: number }): number | undefined {
  try {
    const file = readGguf(path);
    const summary = summarizeGguf(file);
    const context = Math.min(contextSize ?? DEFAULT_CONTEXT, summary.contextLength ?? DEFAULT_CONTEXT);
    const base = estimateMemory(file, summary, context, batchSize, sequences).totalBytes;
    if (!adapterContexts || adapterContexts.count === 0) return base;
    const extra = estimateMemory(file, summary, context, batchSize, adapterContexts.sequences);
    return base + adapterContexts.count * (extra.kvCacheBytes + extra.computeBytes);
  } catch {
    return undefined;
  }
}
