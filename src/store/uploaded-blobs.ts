/**
 * Blobs sent to the gateway by digest before a model is made of them (Ollama's
 * `POST /api/blobs/sha256:<hex>` then `/api/create` with `files`). The bytes
 * are hashed while written to a temp file and kept under uploads/<hex> only
 * when they hash to the digest they were sent as; a blob the store already
 * holds counts as present. Creating a model moves an upload into the store.
 */
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { EdgeError, toEdgeError } from "../errors.js";
import { copyWithSha256 } from "./hashing-copy.js";
import type { ModelStore } from "./model-store.js";

/** `sha256:<64 hex>` → the hex, or invalid_request naming the expected form. */
export function parseBlobDigest(digest: string): string {
  const match = /^sha256[:-]([0-9a-f]{64})$/.exec(digest.trim());
  if (!match) throw new EdgeError("invalid_request", `"${digest}" is not a blob digest; expected sha256:<64 lower-case hex digits>`, { param: "digest" });
  return match[1]!;
}

export class UploadedBlobs {
  constructor(private readonly store: ModelStore) {}

  private uploadPath(hex: string): string {
    return join(this.store.paths.uploads, hex);
  }

  /** Where the blob's bytes are (an upload, or a store blob), or undefined when neither holds it. */
  async locate(hex: string): Promise<string | undefined> {
    for (const path of [this.uploadPath(hex), this.store.blobPath(hex)]) {
      if (await stat(path).then((s) => s.isFile(), () => false)) return path;
    }
    return undefined;
  }

  /**
   * Writes `body` as the blob `hex`, verified: bytes that hash to anything else
   * are dropped and the call fails with invalid_request (400) naming both digests.
   * @returns false when the blob was already present (the body is drained unread).
   */
  async receive(hex: string, body: Readable): Promise<boolean> {
    if (await this.locate(hex)) {
      body.resume();
      return false;
    }
    await mkdir(this.store.paths.tmp, { recursive: true });
    await mkdir(this.store.paths.uploads, { recursive: true });
    const temp = this.store.tempPath();
    try {
      const copy = await copyWithSha256(body, temp);
      if (copy.sha256 !== hex) {
        throw new EdgeError("invalid_request", `digest mismatch: the body's sha256 is ${copy.sha256}, not ${hex} as its URL says (${copy.size} bytes received); nothing was stored`, {
          param: "digest",
          details: { expected: hex, actual: copy.sha256, size: copy.size },
        });
      }
      await rename(temp, this.uploadPath(hex));
      return true;
    } catch (error) {
      await rm(temp, { force: true });
      throw toEdgeError(error, `cannot store blob sha256:${hex}`);
    }
  }

  /** Removes the upload of `hex` once the store holds it as a blob (after a model was made from it). */
  async release(hex: string): Promise<void> {
    if (await stat(this.store.blobPath(hex)).then(() => true, () => false)) await rm(this.uploadPath(hex), { force: true });
  }
}
