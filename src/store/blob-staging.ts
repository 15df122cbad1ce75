/**
 * The way into the store's blobs: files are copied (hashed while written) or
 * moved into tmp/ under a name carrying our pid, then renamed to
 * blobs/sha256/<hash>, read-only, with their hashes recorded in the
 * verified-hash cache. Leftovers of writers that died are removed.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { commitFile } from "../atomic-write.js";
import { toEdgeError } from "../errors.js";
import { processAlive } from "../process-alive.js";
import { sha256File } from "../trust/file-hash.js";
import { VerifiedHashCache } from "../trust/verified-hash-cache.js";
import { copyWithSha256 } from "./hashing-copy.js";
import type { FileRole, ManifestFile } from "./manifest.js";
import type { SourceFile } from "./model-folder.js";
import { blobPathIn, type StorePaths } from "./store-paths.js";

/** A file already hashed and sitting in a temp path on the store's filesystem, waiting to become a blob. */
export interface StagedFile {
  name: string;
  role: ManifestFile["role"];
  sha256: string;
  size: number;
  tempPath: string;
}

export function toManifestFile(file: StagedFile): ManifestFile {
  return { name: file.name, role: file.role, sha256: file.sha256, size: file.size };
}

export class BlobStaging {
  constructor(private readonly paths: StorePaths) {}

  /** A fresh temp path in tmp/, named with our pid so a dead writer's leftovers can be told apart. */
  tempPath(): string {
    return join(this.paths.tmp, `${process.pid}-${randomBytes(6).toString("hex")}.part`);
  }

  /** Copies a file into tmp/, hashing it as it goes. */
  async copy(file: SourceFile): Promise<StagedFile> {
    await mkdir(this.paths.tmp, { recursive: true });
    this.removeStaleTemps();
    const tempPath = this.tempPath();
    try {
      const { sha256, size } = await copyWithSha256(file.path, tempPath);
      return { name: file.name, role: file.role, sha256, size, tempPath };
    } catch (error) {
      await rm(tempPath, { force: true });
      throw toEdgeError(error, `cannot copy ${file.path} into the store`);
    }
  }

  /** Moves a file into tmp/ (a copy across filesystems), then hashes it. `role` defaults to model. */
  async move(path: string, name: string, role: FileRole = "model"): Promise<StagedFile> {
    await mkdir(this.paths.tmp, { recursive: true });
    const tempPath = this.tempPath();
    try {
      await rename(path, tempPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EXDEV") return this.copy({ name, path, role });
      throw toEdgeError(error, `cannot move ${path} into the store`);
    }
    const size = (await stat(tempPath)).size;
    return { name, role, sha256: await sha256File(tempPath), size, tempPath };
  }

  async discard(staged: readonly StagedFile[]): Promise<void> {
    for (const file of staged) await rm(file.tempPath, { force: true });
  }

  /**
   * Renames staged files to their blob names (read-only: a blob never changes)
   * and records their hashes — computed as the bytes were written — in the
   * verified-hash cache, so the first load need not read them again.
   */
  async commit(staged: readonly StagedFile[]): Promise<void> {
    const cache = new VerifiedHashCache(this.paths.cache);
    for (const file of staged) {
      const blob = blobPathIn(this.paths, file.sha256);
      try {
        chmodSync(file.tempPath, 0o444);
      } catch (error) {
        throw toEdgeError(error, `cannot commit ${file.tempPath}`);
      }
      await commitFile(file.tempPath, blob);
      const stat = statSync(blob, { bigint: true });
      if (stat.size === BigInt(file.size)) await cache.record(blob, stat, file.sha256);
    }
  }

  /** Removes temp files whose writer is no longer running (an interrupted add or pull). */
  removeStaleTemps(): void {
    let names: string[];
    try {
      names = readdirSync(this.paths.tmp);
    } catch {
      return;
    }
    for (const name of names) {
      const pid = Number.parseInt(name.split("-")[0] ?? "", 10);
      if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) {
        try {
          unlinkSync(join(this.paths.tmp, name));
        } catch {
          // someone else cleaned it
        }
      }
    }
  }
}
