/**
 * Separate thread counts for prompt batches and decode steps on a
 * node-llama-cpp context (see splitThreadsPerPhase).
 */
import type { LlamaContext } from "node-llama-cpp";
import type { ThreadSetting } from "./types.js";

/**
 * Gives a context separate thread counts for prompt batches and single-token
 * decode steps — llama.cpp's own n_threads_batch / n_threads split, which
 * node-llama-cpp 3.21.1 collapses into one value that it sets before every
 * batch. Its native context records the batch size (initBatch) just before it
 * sets the threads (setThreads), so the count can follow the batch. These are
 * internals of the pinned version: when they are not there, the context keeps
 * one count for both (and says so through `threadsPerPhase`).
 * @internal exported for tests
 */
export function splitThreadsPerPhase(context: LlamaContext, current: () => ThreadSetting): boolean {
  const native = (context as unknown as { _ctx?: Record<string, unknown> })._ctx;
  const initBatch = native?.initBatch;
  const setThreads = native?.setThreads;
  if (!native || typeof initBatch !== "function" || typeof setThreads !== "function") return false;
  let batchTokens = 1;
  try {
    // Own properties shadow the native (read-only) prototype methods of this one context.
    Object.defineProperty(native, "initBatch", {
      configurable: true,
      value: (size: number) => {
        batchTokens = size;
        return initBatch.call(native, size);
      },
    });
    Object.defineProperty(native, "setThreads", {
      configurable: true,
      value: () => {
        const threads = current();
        return setThreads.call(native, batchTokens > 1 ? threads.prompt : threads.decode);
      },
    });
  } catch {
    return false;
  }
  return true;
}
