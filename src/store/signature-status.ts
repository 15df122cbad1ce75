/**
 * How `edgelm list` (and anything else showing a model) describes an entry's
 * signature: who signed it, or why the signature does not verify, checked
 * against the manifest's digests and the trust policy in the configuration.
 */
import { readFileSync } from "node:fs";
import type { Config } from "../config/schema.js";
import { checkTrust } from "../trust/check-trust.js";
import type { StoreEntry } from "./model-store.js";

export interface SignatureStatus {
  /** Short text for a table column. */
  text: string;
  /** True when the entry carries a signature file. */
  present: boolean;
  /** pinned | signed | unsigned | invalid */
  status: string;
}

/** Describes an entry's signature for display (never throws for a policy refusal). */
export async function describeSignature(entry: StoreEntry, config: Config): Promise<SignatureStatus> {
  const relaxed: Config = { ...config, trust: { ...config.trust, require_signature: false } };
  try {
    const outcome = await checkTrust(
      {
        kind: "files",
        name: entry.reference,
        files: entry.files.filter((f) => f.role !== "signature").map((f) => ({ name: f.name, sha256: f.sha256 })),
        ...(entry.signature ? { signature: readFileSync(entry.signature.path) } : {}),
      },
      relaxed,
    );
    return { text: outcome.summary, present: entry.signature !== undefined, status: outcome.status };
  } catch (error) {
    return { text: `cannot check: ${(error as Error).message}`, present: entry.signature !== undefined, status: "invalid" };
  }
}
