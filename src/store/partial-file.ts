/**
 * The partial file a resumable download writes into (hub files and registry
 * layers alike): its size so far, the hash of what it holds, and appending a
 * response body to it while hashing the new bytes.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { isEdgeError, toEdgeError } from "../errors.js";

/** Bytes the partial file holds; 0 when it does not exist. */
export async function partialSize(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.size ?? 0;
}

/** A SHA-256 fed with the first `bytes` bytes of `path`, ready to take the rest. */
export async function hashPrefix(path: string, bytes: number): Promise<Hash> {
  const hash = createHash("sha256");
  if (bytes > 0) for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash;
}

/**
 * Writes `body` to `partial` after its first `start` bytes (from the start when
 * `start` is 0), feeding every byte to `hash`. `onBytes(done)` runs after each
 * chunk with the file's size so far and may throw an EdgeError to stop. A disk
 * that refuses the write is an EdgeError naming the file; a transfer that
 * breaks off is `interrupted(done, error)` (the caller's resumable error).
 * Returns the bytes the file holds.
 */
export async function appendToPartial(
  body: Readable,
  partial: string,
  start: number,
  hash: Hash,
  onBytes: (done: number) => void,
  interrupted: (done: number, error: unknown) => Error,
): Promise<number> {
  let done = start;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length;
      hash.update(chunk);
      try {
        onBytes(done);
      } catch (error) {
        callback(error as Error);
        return;
      }
      callback(null, chunk);
    },
  });
  try {
    await pipeline(body, tap, createWriteStream(partial, { flags: start === 0 ? "w" : "a", mode: 0o644 }));
  } catch (error) {
    if (isEdgeError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOSPC" || code === "EACCES" || code === "EROFS") throw toEdgeError(error, `cannot write ${partial}`);
    throw interrupted(done, error);
  }
  return done;
}
