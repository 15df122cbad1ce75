/**
 * The one way edgelm loads a model: resolve the reference, verify the file,
 * check its GGUF header, then hand it to a backend.
 */
import type { Config } from "../config/schema.js";
import { resolveModel, type ResolvedModel, type ResolveOptions } from "../store/resolve-model.js";
import { verifyModel, type VerificationResult } from "../trust/verify-model.js";
import { checkLoadable } from "./load-safety.js";
import { logger } from "../log.js";
import { selectBackend } from "./select-backend.js";
import { applyThreadTuning, type ThreadTuning } from "./thread-tuning.js";
import type { LoadedModel, LoadOptions } from "./types.js";

export interface OpenModelOptions extends Omit<LoadOptions, "path" | "name">, ResolveOptions {
  /** Measure the thread choice again even when one is cached (when threads are tuned at all). */
  retuneThreads?: boolean;
  /** Called when a thread measurement starts (only when nothing is cached yet). */
  onThreadTuning?: () => void;
}

export interface OpenedModel {
  model: LoadedModel;
  resolved: ResolvedModel;
  verification: VerificationResult;
  loadMs: number;
  /** The thread choice applied from the cache or measured now; absent when threads were given or tuning is off. */
  threadTuning?: ThreadTuning;
}

export async function openModel(ref: string | undefined, config: Config, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const resolved = await resolveModel(ref, config, options);
  return openResolvedModel(resolved, config, options);
}

export async function openResolvedModel(resolved: ResolvedModel, config: Config, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const verification = await verifyModel(resolved, config);
  checkLoadable(resolved.path);
  const backend = selectBackend(config);
  const started = performance.now();
  const threads = options.threads ?? config.engine.threads;
  const contextSize = options.contextSize ?? config.engine.context_size;
  const model = await backend.load({
    ...options,
    path: resolved.path,
    name: resolved.name,
    ...(threads ? { threads } : {}),
    ...(contextSize !== undefined ? { contextSize } : {}),
  });
  const loadMs = performance.now() - started;
  let threadTuning: ThreadTuning | undefined;
  if (!threads && config.engine.tune_threads) {
    try {
      threadTuning = await applyThreadTuning(model, config.home, {
        modelFile: resolved.path,
        ...(options.retuneThreads ? { retune: true } : {}),
        ...(options.onThreadTuning ? { onMeasure: options.onThreadTuning } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if (options.signal?.aborted) {
        await model.dispose();
        throw error;
      }
      // A failed measurement must not stop the model from serving: it keeps the default threads.
      logger.warn(`thread tuning failed, keeping ${model.info.threads.decode} threads: ${(error as Error).message}`);
    }
  }
  return { model, resolved, verification, loadMs, ...(threadTuning ? { threadTuning } : {}) };
}
