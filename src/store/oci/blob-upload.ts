/**
 * Uploading one blob, the ways the distribution spec offers: skip it when the
 * repository has it (HEAD), mount it from another repository of the same
 * registry, push it in one PUT (POST then PUT ?digest=) or, above
 * `store.oci.chunk_bytes`, in ordered PATCH chunks closed by the PUT.
 */
import { createReadStream } from "node:fs";
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { EdgeError } from "../../errors.js";
import type { RegistryClient } from "./registry-client.js";

/** A blob to upload: its digest, size and where its bytes are (a file, or in memory). */
export interface UploadBlob {
  digest: string;
  size: number;
  /** A file holding the bytes… */
  path?: string;
  /** …or the bytes themselves (configs, manifests' small companions). */
  bytes?: Buffer;
}

/** How a blob got into the repository. */
export type UploadOutcome = "exists" | "mounted" | "uploaded";

function openRange(blob: UploadBlob, start: number, end: number): () => Readable {
  // `end` is exclusive; an empty range is an empty stream.
  if (blob.bytes) return () => Readable.from([blob.bytes!.subarray(start, end)]);
  return () => (end > start ? createReadStream(blob.path!, { start, end: end - 1, highWaterMark: 1 << 20 }) : Readable.from([]));
}

function location(response: IncomingMessage, client: RegistryClient, what: string): string {
  const value = response.headers.location;
  if (typeof value !== "string" || value.length === 0) {
    throw new EdgeError("download_failed", `${client.registry} started ${what} without a Location to send it to`);
  }
  return value;
}

/** Appends `digest=` to an upload URL (which may already carry a query). */
function withDigest(url: string, digest: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`;
}

/**
 * Makes sure `repository` holds the blob. `mountFrom` lists repositories of
 * the same registry that may hold it (the first that does lends it).
 * @param onBytes called with the bytes sent so far (progress).
 */
export async function uploadBlob(
  client: RegistryClient,
  repository: string,
  blob: UploadBlob,
  options: { chunkBytes: number; mountFrom?: readonly string[]; onBytes?: (sent: number) => void },
): Promise<UploadOutcome> {
  const scope = `repository:${repository}:pull,push`;
  if ((await client.blobSize(repository, blob.digest, scope)) !== undefined) return "exists";
  let uploadUrl: string | undefined;
  for (const from of options.mountFrom ?? []) {
    if (from === repository) continue;
    const mount = await client.send({
      method: "POST",
      path: `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(from)}`,
      headers: { "content-length": "0" },
      scope,
    });
    mount.resume();
    if (mount.statusCode === 201) return "mounted";
    if (mount.statusCode === 202) {
      uploadUrl = location(mount, client, "an upload"); // not there: the registry opened an upload instead
      break;
    }
    throw await client.statusError(mount, `cannot mount ${blob.digest} from ${from} into ${repository}`);
  }
  if (uploadUrl === undefined) {
    const start = await client.send({ method: "POST", path: `/v2/${repository}/blobs/uploads/`, headers: { "content-length": "0" }, scope });
    if (start.statusCode !== 202) throw await client.statusError(start, `cannot start an upload to ${repository}`);
    start.resume();
    uploadUrl = location(start, client, "an upload");
  }
  if (blob.size <= options.chunkBytes) {
    const put = await client.send({
      method: "PUT",
      path: withDigest(uploadUrl, blob.digest),
      headers: { "content-type": "application/octet-stream", "content-length": String(blob.size) },
      body: openRange(blob, 0, blob.size),
      scope,
    });
    if (put.statusCode !== 201) throw await client.statusError(put, `cannot upload ${blob.digest} to ${repository}`);
    put.resume();
    options.onBytes?.(blob.size);
    return "uploaded";
  }
  for (let offset = 0; offset < blob.size; offset += options.chunkBytes) {
    const end = Math.min(blob.size, offset + options.chunkBytes);
    const patch = await client.send({
      method: "PATCH",
      path: uploadUrl,
      headers: { "content-type": "application/octet-stream", "content-length": String(end - offset), "content-range": `${offset}-${end - 1}` },
      body: openRange(blob, offset, end),
      scope,
    });
    if (patch.statusCode !== 202) throw await client.statusError(patch, `cannot upload bytes ${offset}-${end - 1} of ${blob.digest} to ${repository}`);
    patch.resume();
    uploadUrl = location(patch, client, "the next chunk");
    options.onBytes?.(end);
  }
  const close = await client.send({ method: "PUT", path: withDigest(uploadUrl, blob.digest), headers: { "content-length": "0" }, scope });
  if (close.statusCode !== 201) throw await client.statusError(close, `cannot finish the upload of ${blob.digest} to ${repository}`);
  close.resume();
  return "uploaded";
}
