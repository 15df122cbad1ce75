/** Streaming SHA-256 of a file, in constant memory at node:crypto's speed. */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { toEdgeError } from "../errors.js";

/** Bytes read per step (1 MiB): one buffer, reused, so hashing a large file leaves no garbage behind. */
const CHUNK_BYTES = 1 << 20;

/** The SHA-256 (lower-case hex) of the file at `path`; `onProgress` gets the bytes hashed so far after each 1 MiB. */
export async function sha256File(path: string, onProgress?: (bytes: number) => void): Promise<string> {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let done = 0;
  let handle;
  try {
    handle = await open(path, "r");
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, done);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead)); // update() copies what it needs: the buffer can be reused
      done += bytesRead;
      onProgress?.(done);
    }
  } catch (error) {
    throw toEdgeError(error, `cannot hash ${path}`);
  } finally {
    await handle?.close();
  }
  return hash.digest("hex");
}
