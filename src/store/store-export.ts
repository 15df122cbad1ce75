/**
 * `edgelm export`: an entry's files copied out of the store into a folder
 * under their own names, each checked against its manifest digest as it is
 * copied and committed atomically; nothing is overwritten unless forced.
 */
import { mkdir, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { commitFile, siblingTempPath } from "../atomic-write.js";
import { EdgeError, toEdgeError } from "../errors.js";
import { copyWithSha256 } from "./hashing-copy.js";
import type { StoreEntry } from "./store-entry.js";

export async function exportEntry(entry: StoreEntry, folder: string, options: { force?: boolean } = {}): Promise<string[]> {
  const root = resolve(folder);
  await mkdir(root, { recursive: true }).catch((error: unknown) => {
    throw toEdgeError(error, `cannot create ${root}`);
  });
  const targets = entry.files.map((file) => ({ file, target: join(root, ...file.name.split("/")) }));
  if (!options.force) {
    for (const { target } of targets) {
      if (await stat(target).then(() => true, () => false)) {
        throw new EdgeError("model_exists", `${target} already exists; pass --force to overwrite, or export into an empty folder`);
      }
    }
  }
  const written: string[] = [];
  for (const { file, target } of targets) {
    await mkdir(dirname(target), { recursive: true });
    const temp = siblingTempPath(target);
    try {
      const copy = await copyWithSha256(file.path, temp);
      if (copy.sha256 !== file.sha256) {
        throw new EdgeError(
          "integrity_mismatch",
          `${entry.reference}: ${file.name} (blob ${file.path}) does not match its manifest: expected sha256 ${file.sha256}, got ${copy.sha256}`,
          { details: { file: file.name, path: file.path, expected: file.sha256, actual: copy.sha256 } },
        );
      }
      await commitFile(temp, target);
      written.push(target);
    } catch (error) {
      await rm(temp, { force: true });
      throw toEdgeError(error, `cannot export ${file.name}`);
    }
  }
  return written;
}
