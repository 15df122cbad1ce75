/**
 * What `edgelm add` takes in: one GGUF file, or a model folder whose files keep
 * their relative names (as OpenSSF Model Signing names them), with a
 * `model.sig` at its root kept as the entry's signature.
 */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { EdgeError, toEdgeError } from "../errors.js";
import { readGguf } from "../gguf/gguf-reader.js";
import { metaString } from "../gguf/gguf-values.js";
import { SIGNATURE_FILE, type FileRole } from "./manifest.js";

/** Paths at a folder's root that are never part of a model (the same ones model_signing skips). */
export const IGNORED_ROOT_ENTRIES: readonly string[] = [".git", ".gitattributes", ".github", ".gitignore"];

/** More files than any model folder has; stops a mistaken `add /` early. */
const MAX_FOLDER_FILES = 10_000;

export interface SourceFile {
  /** Name in the manifest: relative to the folder, `/`-separated. */
  name: string;
  path: string;
  role: FileRole;
}

/** The role of a GGUF file: LoRA adapters say so in `general.type`; everything else is a model. */
export function ggufRole(path: string): FileRole {
  const file = readGguf(path);
  return metaString(file.metadata, "general.type") === "adapter" ? "adapter" : "model";
}

/**
 * Lists a model folder: every regular file, recursively, except the ignored
 * root entries. Symlinks and special files are refused (a signature over a
 * folder covers regular files only). Exactly one GGUF must be a model.
 */
export async function scanModelFolder(dir: string): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  async function walk(relative: string): Promise<void> {
    const absolute = relative === "" ? dir : join(dir, relative);
    let names: string[];
    try {
      names = (await readdir(absolute)).sort();
    } catch (error) {
      throw toEdgeError(error, `cannot read folder ${absolute}`);
    }
    for (const entry of names) {
      if (relative === "" && IGNORED_ROOT_ENTRIES.includes(entry)) continue;
      const name = relative === "" ? entry : `${relative}/${entry}`;
      const path = join(dir, name);
      const stat = await lstat(path);
      if (stat.isSymbolicLink()) {
        throw new EdgeError("unsupported", `${path} is a symbolic link; a model folder may hold regular files only (copy the file in)`);
      }
      if (stat.isDirectory()) {
        await walk(name);
        continue;
      }
      if (!stat.isFile()) throw new EdgeError("unsupported", `${path} is not a regular file`);
      if (files.length >= MAX_FOLDER_FILES) {
        throw new EdgeError("usage", `${dir} holds more than ${MAX_FOLDER_FILES} files; is it really a model folder?`);
      }
      const role: FileRole =
        name === SIGNATURE_FILE ? "signature" : entry.toLowerCase().endsWith(".gguf") ? ggufRole(path) : "other";
      files.push({ name, path, role });
    }
  }
  await walk("");
  const models = files.filter((f) => f.role === "model");
  if (models.length === 0) throw new EdgeError("invalid_gguf", `${dir} holds no GGUF model file`);
  if (models.length > 1) {
    throw new EdgeError(
      "usage",
      `${dir} holds ${models.length} GGUF models (${models.map((m) => m.name).join(", ")}); a store entry has one — add each file on its own`,
    );
  }
  return files;
}
