/**
 * Hashes a model the way the reference tool serializes it with `method: files`:
 * a single file is one resource named "."; a folder gives one resource per
 * regular file, named by its POSIX path relative to the folder, minus ignored
 * paths. Symbolic links are refused unless the signature allows them (then
 * they are followed); sockets, pipes and devices are always refused.
 */
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { EdgeError, toEdgeError } from "../../errors.js";
import { sha256File } from "../file-hash.js";
import { isIgnoredPath } from "./ignore-paths.js";
import { compareResourceNames, type ModelResource } from "./model-resource.js";

export interface HashModelOptions {
  /** Model-relative paths to leave out (already normalized). Default none. */
  ignorePaths?: readonly string[];
  /** Follow symbolic links instead of refusing them. Default false. */
  allowSymlinks?: boolean;
  /** Called after each file with its name and size in bytes. */
  onFile?: (name: string, bytes: number) => void;
  /** SHA-256 already computed for some files (absolute path → hex), e.g. by the load path moments before. */
  knownDigests?: ReadonlyMap<string, string>;
}

export interface HashedModel {
  /** Absolute path of the model (file or folder). */
  path: string;
  kind: "file" | "folder";
  /** The model's name as signatures record it: the last path component. */
  name: string;
  /** Sorted as the reference implementation sorts them. */
  resources: ModelResource[];
}

function symlinkRefused(path: string): EdgeError {
  return new EdgeError("unsupported", `${path} is a symbolic link; the signature does not allow symlinks (allow_symlinks: false)`, {
    details: { path },
  });
}

function specialFile(path: string): EdgeError {
  return new EdgeError("unsupported", `${path} is not a regular file or folder (a socket, pipe or device cannot be part of a model)`, {
    details: { path },
  });
}

/** Hashes a model file or folder into its resources. */
export async function hashModelFiles(modelPath: string, options: HashModelOptions = {}): Promise<HashedModel> {
  const root = resolve(modelPath);
  const ignored = options.ignorePaths ?? [];
  const allowSymlinks = options.allowSymlinks ?? false;
  let info;
  try {
    info = await lstat(root);
    if (info.isSymbolicLink()) {
      if (!allowSymlinks) throw symlinkRefused(root);
      info = await stat(root);
    }
  } catch (error) {
    throw toEdgeError(error, `cannot read model ${root}`);
  }
  const name = basename(root);
  const digestOf = async (path: string) => options.knownDigests?.get(path) ?? (await sha256File(path));
  if (info.isFile()) {
    const sha256 = await digestOf(root);
    options.onFile?.(".", info.size);
    return { path: root, kind: "file", name, resources: [{ name: ".", sha256 }] };
  }
  if (!info.isDirectory()) throw specialFile(root);

  const resources: ModelResource[] = [];
  // Real paths of folders on the current walk, so a symlink loop cannot recurse forever.
  const walking = new Set<string>();
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const real = await realpath(dir);
    if (walking.has(real)) throw new EdgeError("unsupported", `${dir} is a symbolic-link loop`);
    walking.add(real);
    const entries = (await readdir(dir)).sort();
    for (const entry of entries) {
      const rel = prefix ? `${prefix}/${entry}` : entry;
      if (isIgnoredPath(rel, ignored)) continue;
      const full = join(dir, entry);
      let entryInfo = await lstat(full);
      if (entryInfo.isSymbolicLink()) {
        if (!allowSymlinks) throw symlinkRefused(full);
        entryInfo = await stat(full);
      }
      if (entryInfo.isDirectory()) await walk(full, rel);
      else if (entryInfo.isFile()) {
        resources.push({ name: rel, sha256: await digestOf(full) });
        options.onFile?.(rel, entryInfo.size);
      } else throw specialFile(full);
    }
    walking.delete(real);
  };
  try {
    await walk(root, "");
  } catch (error) {
    throw toEdgeError(error, `cannot hash model ${root}`);
  }
  resources.sort((a, b) => compareResourceNames(a.name, b.name));
  return { path: root, kind: "folder", name, resources };
}
