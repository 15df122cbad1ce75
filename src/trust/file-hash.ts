/** Streaming SHA-256 of a file, in constant memory at node:crypto's speed. */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { toEdgeError } from "../errors.js";

export async function sha256File(path: string, onProgress?: (bytes: number) => void): Promise<string> {
  const hash = createHash("sha256");
  let done = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
      done += (chunk as Buffer).length;
      onProgress?.(done);
    }
  } catch (error) {
    throw toEdgeError(error, `cannot hash ${path}`);
  }
  return hash.digest("hex");
}
