/**
 * Copies bytes into a new file while hashing them, in one pass and constant
 * memory: what lands in the store is exactly what was hashed.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface HashedCopy {
  sha256: string;
  size: number;
}

/**
 * Streams `source` (a path or a readable) into `destination` (created; must not
 * exist) and returns the SHA-256 and size of what was written. The destination
 * is not fsynced; the caller commits it. On failure the partial file is left
 * for the caller to remove.
 */
export async function copyWithSha256(
  source: string | Readable,
  destination: string,
  onProgress?: (bytes: number) => void,
): Promise<HashedCopy> {
  const hash = createHash("sha256");
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      onProgress?.(size);
      callback(null, chunk);
    },
  });
  const input = typeof source === "string" ? createReadStream(source, { highWaterMark: 1 << 20 }) : source;
  await pipeline(input, tap, createWriteStream(destination, { flags: "wx", mode: 0o644 }));
  return { sha256: hash.digest("hex"), size };
}
