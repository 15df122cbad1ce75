/**
 * How `edgelm list` (and anything else showing a model) describes an entry's
 * signature: who signed it, or why the signature does not verify, checked
 * against the manifest's digests and the trust policy in the configuration.
 */
import { readFileSync } from "node:fs";
import type { Config } from "../config/schema.js";
import { toEdgeError } from "../errors.js";
import { checkTrust, type TrustStatus } from "../trust/check-trust.js";
import type { Signer } from "../trust/model-signing/signer.js";
import type { StoreEntry } from "./model-store.js";

/** The longest SIGNATURE cell `list` prints; longer ones end in "…". */
export const SIGNATURE_COLUMN_WIDTH = 32;

export interface SignatureStatus {
  /** The full one-line outcome ("signed by key … (ECDSA P-256)", "signature rejected: <reason>"). */
  text: string;
  /** At most SIGNATURE_COLUMN_WIDTH characters for a table: pinned | valid (<signer>) | unsigned | rejected: <code>. */
  column: string;
  /** True when the entry carries a signature file. */
  present: boolean;
  status: TrustStatus;
  /** Why a signature was rejected (status "invalid"). */
  error?: { code: string; message: string };
}

function truncate(text: string, width = SIGNATURE_COLUMN_WIDTH): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

function shortSigner(signer: Signer): string {
  switch (signer.method) {
    case "key":
      return `key ${signer.keyHint.slice(0, 12)}`;
    case "certificate":
      return `cert ${signer.subject}`;
    case "keyless":
      return signer.identity;
  }
}

/** The short cell for an outcome. */
function columnFor(status: TrustStatus, signer: Signer | undefined, code: string | undefined): string {
  switch (status) {
    case "pinned":
      return "pinned (demo)";
    case "signed":
      return truncate(signer ? `valid (${shortSigner(signer)})` : "valid");
    case "unsigned":
      return "unsigned";
    case "invalid":
      return truncate(`rejected: ${code ?? "signature_invalid"}`);
  }
}

/** Describes an entry's signature for display (never throws for a policy refusal). */
export async function describeSignature(entry: StoreEntry, config: Config): Promise<SignatureStatus> {
  const relaxed: Config = { ...config, trust: { ...config.trust, require_signature: false } };
  const present = entry.signature !== undefined;
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
    const error = outcome.error ? { code: outcome.error.code, message: outcome.error.message } : undefined;
    return {
      text: outcome.summary,
      column: columnFor(outcome.status, outcome.signer, error?.code),
      present,
      status: outcome.status,
      ...(error ? { error } : {}),
    };
  } catch (error) {
    const edge = toEdgeError(error);
    return {
      text: `cannot check: ${edge.message}`,
      column: truncate(`rejected: ${edge.code}`),
      present,
      status: "invalid",
      error: { code: edge.code, message: edge.message },
    };
  }
}
