/**
 * Which paths of a model folder a signature leaves out. Like the reference
 * tool: the signature file itself, git metadata, the signed
 * `serialization.ignore_paths`, and whatever the caller adds. A path ignores
 * itself and everything under it.
 */
import { isAbsolute, relative, resolve, sep } from "node:path";

export const SIGNATURE_FILE_NAME = "model.sig";
/** Git metadata the reference tool leaves out by default. */
export const GIT_PATHS = [".git", ".gitattributes", ".github", ".gitignore"] as const;
/** Always left out when hashing a folder. */
export const DEFAULT_IGNORE_PATHS: readonly string[] = [SIGNATURE_FILE_NAME, ...GIT_PATHS];

/**
 * A model-relative POSIX path, or undefined for one that names the root itself
 * or leaves it ("", ".", "../x"): ignoring those would ignore everything or nothing.
 */
export function normalizeIgnorePath(path: string): string | undefined {
  const parts: string[] = [];
  for (const part of path.replace(/\\/g, "/").split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return parts.length > 0 ? parts.join("/") : undefined;
}

/** Normalizes and de-duplicates a list of model-relative paths (sorted, for stable output). */
export function normalizeIgnorePaths(paths: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    const n = normalizeIgnorePath(p);
    if (n !== undefined) out.add(n);
  }
  return [...out].sort();
}

/** Is the model-relative `name` one of `ignored` or inside one of them? */
export function isIgnoredPath(name: string, ignored: readonly string[]): boolean {
  return ignored.some((p) => name === p || name.startsWith(`${p}/`));
}

/**
 * Turns paths a user typed (`--ignore-paths`) into model-relative ones. A path
 * that, taken from the working directory, lies inside the model is made
 * relative to the model root; any other relative path is taken as already
 * model-relative; an absolute path outside the model is dropped.
 */
export function ignorePathsFromUser(modelRoot: string, paths: readonly string[], cwd: string = process.cwd()): string[] {
  const root = resolve(modelRoot);
  const out: string[] = [];
  for (const p of paths) {
    const fromCwd = relative(root, resolve(cwd, p));
    const inside = fromCwd !== "" && !fromCwd.startsWith("..") && !isAbsolute(fromCwd);
    if (inside) out.push(fromCwd.split(sep).join("/"));
    else if (!isAbsolute(p)) out.push(p);
  }
  return normalizeIgnorePaths(out);
}
