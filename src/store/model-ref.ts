/**
 * Model references as users write them, parsed without touching the disk:
 *   a path      ./m.gguf, /models/m.gguf, ../m.gguf, anything ending in .gguf
 *   hf:         hf:<owner>/<repo>/<file>.gguf[@<revision>]
 *   a name      name[:tag] (looked up in the store, then the catalog)
 */
import { EdgeError } from "../errors.js";

export type ModelRef =
  | { kind: "path"; path: string }
  | { kind: "hf"; owner: string; repo: string; file: string; revision: string }
  | { kind: "name"; name: string; tag: string | undefined };

const NAME = /^[a-z0-9][a-z0-9._-]*(?:\/[a-z0-9][a-z0-9._-]*)?$/i;
const TAG = /^[a-z0-9][a-z0-9._-]*$/i;

/** True when the text is shaped like a path by itself (no disk check). */
export function looksLikePath(text: string): boolean {
  return (
    text.startsWith("/") ||
    text.startsWith("./") ||
    text.startsWith("../") ||
    text === "." ||
    text === ".." ||
    text.startsWith("~/") ||
    text.toLowerCase().endsWith(".gguf")
  );
}

/** True when the text is shaped like `name:tag` (so a typo gets a suggestion instead of being a prompt). */
export function looksLikeNameWithTag(text: string): boolean {
  const at = text.indexOf(":");
  return at > 0 && NAME.test(text.slice(0, at)) && TAG.test(text.slice(at + 1));
}

export function parseModelRef(text: string): ModelRef {
  const ref = text.trim();
  if (ref.length === 0) throw new EdgeError("usage", "the model reference is empty", { param: "model" });
  if (ref.startsWith("hf:")) return parseHfRef(ref);
  if (looksLikePath(ref)) return { kind: "path", path: ref };
  const at = ref.indexOf(":");
  const name = at === -1 ? ref : ref.slice(0, at);
  const tag = at === -1 ? undefined : ref.slice(at + 1);
  if (!NAME.test(name) || (tag !== undefined && !TAG.test(tag))) {
    // Not a name: it can only be a path (it may exist relative to the working directory).
    return { kind: "path", path: ref };
  }
  return { kind: "name", name: name.toLowerCase(), tag: tag?.toLowerCase() };
}

function parseHfRef(ref: string): ModelRef {
  const body = ref.slice(3);
  const at = body.lastIndexOf("@");
  const location = at === -1 ? body : body.slice(0, at);
  const revision = at === -1 ? "main" : body.slice(at + 1);
  const parts = location.split("/");
  if (parts.length < 3 || parts.some((p) => p.length === 0 || p === "." || p === "..") || revision.length === 0) {
    throw new EdgeError("usage", `"${ref}" is not a valid hf: reference; use hf:<owner>/<repo>/<file>.gguf[@<revision>]`, {
      param: "model",
    });
  }
  const [owner, repo, ...file] = parts;
  const path = file.join("/");
  if (!path.toLowerCase().endsWith(".gguf")) {
    throw new EdgeError("usage", `"${ref}" does not name a .gguf file; use hf:<owner>/<repo>/<file>.gguf`, { param: "model" });
  }
  return { kind: "hf", owner: owner!, repo: repo!, file: path, revision };
}

/** The tag a name without one means. */
export const DEFAULT_TAG = "latest";

/** A store name, `name[:tag]`, split and lower-cased (tag defaults to `latest`). */
export interface StoreName {
  name: string;
  tag: string;
}

/** `name:tag` as shown to users. */
export function formatStoreName(value: StoreName): string {
  return `${value.name}:${value.tag}`;
}

/**
 * The longest a store name's part (either side of its `/`) or tag may be, in
 * characters: each becomes a file or folder name under `manifests/`, and file
 * systems allow 255 bytes per name, less the temp-file suffix of an atomic write.
 */
export const MAX_STORE_NAME_PART = 128;

/**
 * Parses a name to store a model under (`--name assistant:1`). Names are
 * lower-case letters, digits, `.`, `_`, `-` with at most one `/`; tags the same
 * without `/`; each part and the tag at most {@link MAX_STORE_NAME_PART}
 * characters. Anything path- or hf:-shaped is refused, so every store name
 * resolves back to the store.
 */
export function parseStoreName(text: string, param = "--name"): StoreName {
  const value = text.trim();
  const ref = value.length === 0 || value.startsWith("hf:") || looksLikePath(value) ? undefined : parseModelRef(value);
  if (ref === undefined || ref.kind !== "name") {
    throw new EdgeError(
      "usage",
      `"${text}" is not a valid model name; use name[:tag] with letters, digits, ".", "_", "-" (e.g. assistant:1)`,
      { param },
    );
  }
  const tag = ref.tag ?? DEFAULT_TAG;
  const long = [...ref.name.split("/"), tag].find((part) => part.length > MAX_STORE_NAME_PART);
  if (long !== undefined) {
    throw new EdgeError(
      "usage",
      `model name "${text.slice(0, 40)}…" is too long: "${long.slice(0, 20)}…" has ${long.length} characters, ` +
        `and a name's parts and its tag may have at most ${MAX_STORE_NAME_PART} each`,
      { param, details: { limit: MAX_STORE_NAME_PART, length: long.length } },
    );
  }
  return { name: ref.name, tag };
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The closest candidate to `text`, if any is reasonably close. */
export function closestMatch(text: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(text.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(3, Math.floor(text.length / 2)) ? best : undefined;
}
