/**
 * Writes that are all or nothing: data goes to a temp file in the target's
 * directory, is fsynced, then renamed over the target, and the directory is
 * fsynced so the rename survives a power cut. A reader sees the old file or
 * the new one, never half of either.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { toEdgeError } from "./errors.js";

/** fsync a directory so a rename or unlink in it is durable (a no-op where directories cannot be opened). */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on directories; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A temp file name next to `path` that no other writer will pick. */
export function siblingTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

/**
 * Writes `data` to `path` atomically and durably (creating parent directories).
 * @param mode permissions of the new file; default 0o644 (0o600 for a private key)
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const temp = siblingTempPath(path);
  try {
    await mkdir(dirname(path), { recursive: true });
    const handle = await open(temp, "wx", mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    fsyncDirectory(dirname(path));
  } catch (error) {
    await rm(temp, { force: true });
    throw toEdgeError(error, `cannot write ${path}`);
  }
}

/** Makes a finished temp file durable and moves it to `path` in one rename (same filesystem). */
export async function commitFile(tempPath: string, path: string): Promise<void> {
  try {
    const handle = await open(tempPath, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await mkdir(dirname(path), { recursive: true });
    await rename(tempPath, path);
    fsyncDirectory(dirname(path));
  } catch (error) {
    throw toEdgeError(error, `cannot move ${tempPath} to ${path}`);
  }
}
