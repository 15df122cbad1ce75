/**
 * How `edgelm list` (and anything else showing a model) describes an entry's
 * signature. This is the one place to change when signature verification
 * lands: it may then say who signed, or why the signature does not verify.
 */
import type { Config } from "../config/schema.js";
import { SIGNATURE_FILE } from "./manifest.js";
import type { StoreEntry } from "./model-store.js";

export interface SignatureStatus {
  /** Short text for a table column. */
  text: string;
  /** True when the entry carries a signature file (not yet: that it verifies). */
  present: boolean;
}

/** Describes an entry's signature for display. */
export async function describeSignature(entry: StoreEntry, _config: Config): Promise<SignatureStatus> {
  return entry.signature ? { text: `${SIGNATURE_FILE} present`, present: true } : { text: "unsigned", present: false };
}
