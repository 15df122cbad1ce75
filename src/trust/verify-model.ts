/**
 * Verification before a model's bytes reach native code: the file's SHA-256
 * against what vouches for it (the demo pin, a store manifest).
 */
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import type { ResolvedModel } from "../store/resolve-model.js";
import { sha256File } from "./file-hash.js";

export interface VerificationResult {
  sha256: string;
  /** True when the hash matched an expected value (pin or manifest). */
  hashVerified: boolean;
}

export async function verifyModel(model: ResolvedModel, _config: Config): Promise<VerificationResult> {
  const sha256 = await sha256File(model.path);
  if (model.expectedSha256 !== undefined && sha256 !== model.expectedSha256) {
    throw new EdgeError(
      "integrity_mismatch",
      `${model.path} does not match its recorded hash: expected sha256 ${model.expectedSha256}, got ${sha256}`,
      { details: { path: model.path, expected: model.expectedSha256, actual: sha256 } },
    );
  }
  return { sha256, hashVerified: model.expectedSha256 !== undefined };
}
