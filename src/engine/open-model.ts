/**
 * The one way edgelm loads a model: resolve the reference, verify the file,
 * check its GGUF header, then hand it to a backend.
 */
import type { Config } from "../config/schema.js";
import { summarizeGguf, type GgufSummary } from "../gguf/gguf-summary.js";
import { resolveModel, type ResolvedModel, type ResolveOptions } from "../store/resolve-model.js";
import { verifyModel, type VerificationResult, type VerifyOptions } from "../trust/verify-model.js";
import { checkLoadable } from "./load-safety.js";
import { selectBackend } from "./select-backend.js";
import type { LoadedModel, LoadOptions } from "./types.js";

export interface OpenModelOptions extends Omit<LoadOptions, "path" | "name">, ResolveOptions {}

export interface OpenedModel {
  model: LoadedModel;
  resolved: ResolvedModel;
  verification: VerificationResult;
  loadMs: number;
}

/** A model file that passed the trust rules and the load-safety check, not loaded yet. */
export interface PreparedModel {
  resolved: ResolvedModel;
  verification: VerificationResult;
  summary: GgufSummary;
}

/**
 * The trust rules before any backend (in-process or a runner process) sees a
 * file: verify it, then check its GGUF header for what would crash llama.cpp.
 */
export async function prepareModel(resolved: ResolvedModel, config: Config, options: VerifyOptions = {}): Promise<PreparedModel> {
  const verification = await verifyModel(resolved, config, options);
  const file = checkLoadable(resolved.path);
  return { resolved, verification, summary: summarizeGguf(file) };
}

export async function openModel(ref: string | undefined, config: Config, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const resolved = await resolveModel(ref, config, options);
  return openResolvedModel(resolved, config, options);
}

export async function openResolvedModel(resolved: ResolvedModel, config: Config, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const { verification } = await prepareModel(resolved, config, options.progress ? { progress: options.progress } : {});
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
  return { model, resolved, verification, loadMs: performance.now() - started };
}
