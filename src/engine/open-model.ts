/**
 * The one way edgelm loads a model: resolve the reference, prepare it (verify
 * the file, apply the trust policy, check its GGUF header), hand it to a
 * backend, then apply the measured thread choice (cached per model and machine).
 */
import type { Config } from "../config/schema.js";
import { logger } from "../log.js";
import { resolveModel } from "../store/resolve-model.js";
import type { ResolvedModel, ResolveOptions } from "../store/resolved-model.js";
import type { TrustOutcome } from "../trust/check-trust.js";
import type { VerificationResult } from "../trust/verify-model.js";
import { templateLimits } from "./bounded-template.js";
import { grammarCacheLimits } from "./grammar-cache.js";
import { prepareModel } from "./prepare-model.js";
import { applyThreadTuning, type ThreadTuning } from "./thread-tuning.js";
import type { LoadedModel, LoadOptions } from "./types.js";

export { prepareModel, type PreparedModel } from "./prepare-model.js";

export interface OpenModelOptions extends Omit<LoadOptions, "path" | "name">, ResolveOptions {
  /** Measure the thread choice again even when one is cached (when threads are tuned at all). */
  retuneThreads?: boolean;
  /** Called when a thread measurement starts (only when nothing is cached yet). */
  onThreadTuning?: () => void;
  /** Called when the file is checked and the engine starts loading it (the step a status line names). */
  onLoading?: () => void;
}

export interface OpenedModel {
  model: LoadedModel;
  resolved: ResolvedModel;
  verification: VerificationResult;
  trust: TrustOutcome;
  loadMs: number;
  /** The thread choice applied from the cache or measured now; absent when threads were given or tuning is off. */
  threadTuning?: ThreadTuning;
}

export async function openModel(ref: string | undefined, config: Config, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const resolved = await resolveModel(ref, config, options);
  return openResolvedModel(resolved, config, options);
}

export async function openResolvedModel(resolved: ResolvedModel, config: Config, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const { verification, trust } = await prepareModel(resolved, config, options.progress ? { progress: options.progress } : {});
  options.onLoading?.();
  // Loaded on first use: commands that never load a model in this process (serve) do not pay for llama.cpp's bindings.
  const { selectBackend } = await import("./select-backend.js");
  const backend = await selectBackend(config);
  const started = performance.now();
  const threads = options.threads ?? config.engine.threads;
  const contextSize = options.contextSize ?? config.engine.context_size;
  const model = await backend.load({
    ...options,
    path: resolved.path,
    name: resolved.name,
    chatTemplateLimits: options.chatTemplateLimits ?? templateLimits(config.engine.chat_template),
    grammarCacheLimits: options.grammarCacheLimits ?? grammarCacheLimits(config.engine.grammar_cache),
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
  return { model, resolved, verification, trust, loadMs, ...(threadTuning ? { threadTuning } : {}) };
}
