/**
 * The one way edgelm loads a model: resolve the reference, verify the file,
 * check its GGUF header, then hand it to a backend.
 */
import type { Config } from "../config/schema.js";
import { resolveModel, type ResolvedModel, type ResolveOptions } from "../store/resolve-model.js";
import { checkTrust, type TrustOutcome } from "../trust/check-trust.js";
import { trustSubjectFor } from "../trust/trust-subject.js";
import { verifyModel, type VerificationResult } from "../trust/verify-model.js";
import { checkLoadable } from "./load-safety.js";
import { selectBackend } from "./select-backend.js";
import type { LoadedModel, LoadOptions } from "./types.js";

export interface OpenModelOptions extends Omit<LoadOptions, "path" | "name">, ResolveOptions {}

export interface OpenedModel {
  model: LoadedModel;
  resolved: ResolvedModel;
  verification: VerificationResult;
  trust: TrustOutcome;
  loadMs: number;
}

export async function openModel(ref: string | undefined, config: Config, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const resolved = await resolveModel(ref, config, options);
  return openResolvedModel(resolved, config, options);
}

export async function openResolvedModel(resolved: ResolvedModel, config: Config, options: OpenModelOptions = {}): Promise<OpenedModel> {
  const verification = await verifyModel(resolved, config, options.progress ? { progress: options.progress } : {});
  const trust = await checkTrust(trustSubjectFor(resolved, verification), config);
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
  return { model, resolved, verification, trust, loadMs: performance.now() - started };
}
