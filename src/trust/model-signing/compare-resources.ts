/**
 * Compares what a signature covers with what is there, by name and digest.
 * Works on plain {name, sha256} lists, so it runs as well on files just hashed
 * as on a store manifest, without reading a byte of the model.
 */
import { EdgeError } from "../../errors.js";
import type { ModelResource } from "./model-resource.js";

export interface ResourceDiff {
  /** Present in the model but not covered by the signature. */
  extra: string[];
  /** Covered by the signature but absent from the model. */
  missing: string[];
  /** Present in both with different digests. */
  changed: Array<{ name: string; expected: string; actual: string }>;
}

/**
 * Differences between the signed resources and the actual ones. A single-file
 * signature (one resource ".") matches a single actual file of any name, so a
 * store manifest that names its one file still compares.
 */
export function diffResources(signed: readonly ModelResource[], actual: readonly ModelResource[]): ResourceDiff {
  let present = actual;
  if (signed.length === 1 && signed[0]!.name === "." && actual.length === 1) present = [{ name: ".", sha256: actual[0]!.sha256 }];
  const expected = new Map(signed.map((r) => [r.name, r.sha256]));
  const seen = new Map(present.map((r) => [r.name, r.sha256]));
  const diff: ResourceDiff = { extra: [], missing: [], changed: [] };
  for (const [name, sha256] of seen) {
    const want = expected.get(name);
    if (want === undefined) diff.extra.push(name);
    else if (want !== sha256) diff.changed.push({ name, expected: want, actual: sha256 });
  }
  for (const name of expected.keys()) if (!seen.has(name)) diff.missing.push(name);
  diff.extra.sort();
  diff.missing.sort();
  diff.changed.sort((a, b) => (a.name < b.name ? -1 : 1));
  return diff;
}

function list(names: string[], limit = 5): string {
  const shown = names.slice(0, limit).join(", ");
  return names.length > limit ? `${shown} and ${names.length - limit} more` : shown;
}

/** Throws `integrity_mismatch` naming every difference (one line), or returns when the lists match. */
export function assertResourcesMatch(signed: readonly ModelResource[], actual: readonly ModelResource[], model: string): void {
  const diff = diffResources(signed, actual);
  const parts: string[] = [];
  // A single-file model's one resource is ".": say "the file" instead.
  for (const c of diff.changed.slice(0, 3)) parts.push(`${c.name === "." ? "the file" : c.name} changed (signed sha256 ${c.expected}, now ${c.actual})`);
  if (diff.changed.length > 3) parts.push(`${diff.changed.length - 3} more files changed`);
  if (diff.extra.length > 0) parts.push(`${list(diff.extra)} ${diff.extra.length === 1 ? "is" : "are"} not covered by the signature (added after signing?)`);
  if (diff.missing.length > 0) parts.push(`${list(diff.missing)} ${diff.missing.length === 1 ? "is" : "are"} signed but missing`);
  if (parts.length === 0) return;
  throw new EdgeError("integrity_mismatch", `${model} does not match its signature: ${parts.join("; ")}`, {
    details: { extra: diff.extra, missing: diff.missing, changed: diff.changed },
  });
}
