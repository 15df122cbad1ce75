/**
 * The trust rules before any backend (in process or a runner process) sees a
 * model file: verify it (hash against its pin or manifest), then check its GGUF
 * header for what would crash llama.cpp. Imports no backend, so a gateway can
 * run it without loading llama.cpp.
 */
import type { Config } from "../config/schema.js";
import { summarizeGguf, type GgufSummary } from "../gguf/gguf-summary.js";
import type { ResolvedModel } from "../store/resolve-model.js";
import { verifyModel, type VerificationResult, type VerifyOptions } from "../trust/verify-model.js";
import { checkLoadable } from "./load-safety.js";

/** A model file that passed the trust rules and the load-safety check, not loaded yet. */
export interface PreparedModel {
  resolved: ResolvedModel;
  verification: VerificationResult;
  summary: GgufSummary;
}

export async function prepareModel(resolved: ResolvedModel, config: Config, options: VerifyOptions = {}): Promise<PreparedModel> {
  const verification = await verifyModel(resolved, config, options);
  const file = checkLoadable(resolved.path);
  return { resolved, verification, summary: summarizeGguf(file) };
}
