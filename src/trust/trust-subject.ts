/**
 * What trust is checked against for a resolved model: a store entry's manifest
 * (digests already verified against the blobs, plus its model.sig), or a bare
 * path (hashed, with a model.sig beside it or in its folder).
 */
import { readFileSync } from "node:fs";
import type { ResolvedModel } from "../store/resolved-model.js";
import type { TrustSubject } from "./check-trust.js";
import type { VerificationResult } from "./verify-model.js";

export function trustSubjectFor(resolved: ResolvedModel, verification: VerificationResult): TrustSubject {
  if (resolved.files && resolved.files.length > 0) {
    return {
      kind: "files",
      name: resolved.name,
      files: resolved.files.filter((f) => f.role !== "signature").map((f) => ({ name: f.name, sha256: f.sha256 })),
      ...(resolved.signaturePath ? { signature: readFileSync(resolved.signaturePath) } : {}),
    };
  }
  return { kind: "path", path: resolved.path, sha256: verification.sha256 };
}
