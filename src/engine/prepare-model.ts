/**
 * The trust rules before any backend (in process or a runner process) sees a
 * model file: verify it (hash against its pin or manifest), check it against
 * the trust policy (signatures), then check its GGUF header for what would
 * crash llama.cpp. Imports no backend, so a gateway can run it without loading
 * llama.cpp.
 */
import type { Config } from "../config/schema.js";
import { summarizeGguf, type GgufSummary } from "../gguf/gguf-summary.js";
import type { ResolvedModel } from "../store/resolved-model.js";
import { checkTrust, type TrustOutcome } from "../trust/check-trust.js";
import { trustSubjectFor } from "../trust/trust-subject.js";
import { verifyModel, type VerificationResult, type VerifyOptions } from "../trust/verify-model.js";
import { checkLoadable } from "./load-safety.js";

/** A model file that passed the trust rules and the load-safety check, not loaded yet. */
export interface PreparedModel {
  resolved: ResolvedModel;
  verification: VerificationResult;
  trust: TrustOutcome;
  summary: GgufSummary;
}

export async function prepareModel(resolved: ResolvedModel, config: Config, options: VerifyOptions = {}): Promise<PreparedModel> {
  const verification = await verifyModel(resolved, config, options);
  const trust = await checkTrust(trustSubjectFor(resolved, verification), config);
  const file = checkLoadable(resolved.path);
  return { resolved, verification, trust, summary: summarizeGguf(file) };
}
