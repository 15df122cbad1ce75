/**
 * Downloading one layer into a partial file, resumable: a broken transfer
 * continues with `Range: bytes=<have>-`, up to `store.download_retries`
 * times, and a later pull resumes what an earlier one left. The bytes are
 * hashed as they arrive; the caller commits the file only when the digest
 * matches.
 */
import { rm, truncate } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../../config/schema.js";
import { EdgeError } from "../../errors.js";
import { describeNetworkError, isNetworkError } from "../http-request.js";
import { appendToPartial, hashPrefix, partialSize } from "../partial-file.js";
import type { RegistryClient } from "./registry-client.js";

/** A transfer that stopped part way: worth resuming. */
class Interrupted extends Error {}

async function attempt(
  client: RegistryClient,
  repository: string,
  layer: { digest: string; size: number },
  partial: string,
  onProgress: (done: number) => void,
): Promise<string> {
  let have = await partialSize(partial);
  if (have > layer.size) {
    await rm(partial, { force: true });
    have = 0;
  }
  if (have === layer.size) return `sha256:${(await hashPrefix(partial, have)).digest("hex")}`;
  const response = await client.openBlob(repository, layer.digest, have);
  const status = response.statusCode ?? 0;
  let start = have;
  if (status === 200) start = 0; // the server ignored the range: from the start
  else if (status === 206) {
    const range = /^bytes (\d+)-/.exec(String(response.headers["content-range"] ?? ""));
    if (!range || Number(range[1]) !== have) {
      response.resume();
      await rm(partial, { force: true });
      throw new Interrupted(`the registry answered another range (${String(response.headers["content-range"])}); starting over`);
    }
  } else if (status === 416) {
    response.resume();
    await rm(partial, { force: true });
    throw new Interrupted("the registry refused the resume range; starting over");
  } else {
    if (status >= 500 || status === 429) {
      response.resume();
      throw new Interrupted(`${client.registry} answered HTTP ${status}`);
    }
    throw await client.statusError(response, `cannot download layer ${layer.digest} of ${repository}`);
  }
  if (start === 0 && have > 0) await truncate(partial, 0);
  const hash = await hashPrefix(partial, start);
  onProgress(start);
  const done = await appendToPartial(
    response,
    partial,
    start,
    hash,
    (bytes) => {
      if (bytes > layer.size) throw new EdgeError("integrity_mismatch", `layer ${layer.digest} of ${repository} is longer than the ${layer.size} bytes its manifest says`);
      onProgress(bytes);
    },
    (bytes, error) => new Interrupted(`the transfer broke off after ${bytes} of ${layer.size} bytes (${describeNetworkError(error)})`),
  );
  if (done < layer.size) throw new Interrupted(`the connection closed after ${done} of ${layer.size} bytes`);
  return `sha256:${hash.digest("hex")}`;
}

/**
 * Downloads a layer into `partial` (resuming what it holds) and returns the
 * digest of the bytes. The partial file stays when the transfer fails, so the
 * next pull resumes; the caller deletes it when the digest is wrong.
 */
export async function downloadLayer(
  client: RegistryClient,
  repository: string,
  layer: { digest: string; size: number },
  partial: string,
  config: Config,
  options: { onProgress?: (done: number) => void; onRetry?: (reason: string) => void } = {},
): Promise<string> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt(client, repository, layer, partial, options.onProgress ?? (() => {}));
    } catch (error) {
      if (!(error instanceof Interrupted) && !isNetworkError(error)) throw error;
      const reason = (error as Error).message;
      if (tries >= config.store.download_retries) {
        const kept = await partialSize(partial);
        throw new EdgeError(
          "download_failed",
          `download of layer ${layer.digest} from ${client.registry}/${repository} interrupted: ${reason}; ${kept > 0 ? `${kept} bytes kept — run the same command again to resume` : "run the same command again to retry"}`,
          { details: { partial, bytes: kept } },
        );
      }
      options.onRetry?.(reason);
      await sleep(Math.min(2000, 100 * 2 ** tries));
    }
  }
}
