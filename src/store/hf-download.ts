/**
 * Downloading one file from the Hugging Face hub (or a mirror speaking its
 * protocol), as its own client does:
 *
 * 1. HEAD <endpoint>/<owner>/<repo>/resolve/<revision>/<file> without following
 *    redirects to other hosts (same-host redirects — a renamed repository —
 *    are followed). For a large (LFS/Xet) file the hub answers 302 to its CDN
 *    with `X-Linked-Etag` = the file's SHA-256, `X-Linked-Size` and
 *    `X-Repo-Commit`; a small file answers 200 with its git ETag.
 * 2. GET the file from where that pointed, with `Range: bytes=<have>-` when a
 *    partial file exists, following redirects (the token only goes to the
 *    hub's own host), hashing while writing.
 *
 * Broken transfers are retried from where they stopped; the caller checks the
 * final hash against the advertised one.
 */
import { rm, truncate } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import { describeNetworkError, httpRequest, isNetworkError } from "./http-request.js";
import { appendToPartial, hashPrefix, partialSize } from "./partial-file.js";
import type { ModelRef } from "./model-ref.js";

export type HfRef = Extract<ModelRef, { kind: "hf" }>;

/** What the hub says about a file before we download it. */
export interface HubFile {
  ref: HfRef;
  /** The resolve URL on the hub (after same-host redirects). */
  resolveUrl: URL;
  /** Where the bytes are (the CDN, or the resolve URL itself). */
  downloadUrl: URL;
  /** SHA-256 the hub advertises (LFS oid), when it does. */
  sha256: string | undefined;
  size: number | undefined;
  /** The commit the revision resolved to. */
  commit: string | undefined;
}

const MAX_REDIRECTS = 10;

/** `hf:owner/repo/file@revision`: one spelling per file, for the store's records. */
export function canonicalHfRef(ref: HfRef): string {
  return `hf:${ref.owner}/${ref.repo}/${ref.file}@${ref.revision}`;
}

/** The resolve URL of a file on a hub endpoint (each path segment escaped). */
export function hfResolveUrl(endpoint: string, ref: HfRef): URL {
  const base = endpoint.replace(/\/+$/, "");
  const segments = [ref.owner, ref.repo, "resolve", ref.revision, ...ref.file.split("/")].map(encodeURIComponent);
  return new URL(`${base}/${segments.join("/")}`);
}

/** An ETag that is a SHA-256 (quotes and weak prefix removed), lower-cased; else undefined. */
export function sha256FromEtag(value: string | string[] | undefined): string | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
  return text && /^[0-9a-f]{64}$/i.test(text) ? text.toLowerCase() : undefined;
}

function header(response: IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function positiveInteger(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

function requestTimeouts(config: Config) {
  return { connectTimeoutMs: config.store.connect_timeout_ms, stallTimeoutMs: config.store.stall_timeout_ms };
}

/** Turns a hub error status into one line naming the file and what to do. */
function statusError(response: IncomingMessage, ref: HfRef, url: URL): EdgeError {
  const status = response.statusCode ?? 0;
  const code = header(response, "x-error-code");
  const what = `hf:${ref.owner}/${ref.repo}/${ref.file}@${ref.revision}`;
  const details = { status, url: url.href, ...(code ? { hub_error: code } : {}) };
  if (status === 404) {
    const reason =
      code === "RepoNotFound"
        ? `the repository ${ref.owner}/${ref.repo} does not exist (or is private)`
        : code === "RevisionNotFound"
          ? `the repository has no revision "${ref.revision}"`
          : code === "EntryNotFound"
            ? `the repository has no file ${ref.file} at revision ${ref.revision}`
            : "not found";
    return new EdgeError("model_not_found", `${what} was not found on ${url.origin} (HTTP 404: ${reason}); check the spelling with the repository's file list`, { details });
  }
  if (status === 401 || status === 403) {
    const gated = code === "GatedRepo" ? "the repository is gated: accept its terms on the hub, then" : "access denied:";
    return new EdgeError("download_failed", `cannot download ${what} (HTTP ${status}): ${gated} set a token with EDGELM_HF_TOKEN (store.hf_token)`, { details });
  }
  return new EdgeError("download_failed", `cannot download ${what}: ${url.origin} answered HTTP ${status}${code ? ` (${code})` : ""}`, { details });
}

/** Asks the hub about a file (HEAD): where to download it, its SHA-256, size and commit. */
export async function fetchHubFileInfo(ref: HfRef, config: Config): Promise<HubFile> {
  let url = hfResolveUrl(config.hf_endpoint, ref);
  const hubOrigin = url.origin;
  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (config.store.hf_token) headers.authorization = `Bearer ${config.store.hf_token}`;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await httpRequest(url, { method: "HEAD", headers, ...requestTimeouts(config) });
    response.resume();
    const status = response.statusCode ?? 0;
    const location = header(response, "location");
    if (status >= 300 && status < 400 && location) {
      const target = new URL(location, url);
      if (target.origin === hubOrigin) {
        url = target; // renamed repository or similar: ask again on the hub
        continue;
      }
      return describe(response, url, target);
    }
    if (status >= 200 && status < 300) return describe(response, url, url);
    throw statusError(response, ref, url);
  }
  throw new EdgeError("download_failed", `too many redirects resolving ${canonicalHfRef(ref)} on ${hubOrigin}`);

  function describe(response: IncomingMessage, resolveUrl: URL, downloadUrl: URL): HubFile {
    const redirected = downloadUrl !== resolveUrl;
    return {
      ref,
      resolveUrl,
      downloadUrl,
      sha256: sha256FromEtag(response.headers["x-linked-etag"]) ?? sha256FromEtag(response.headers.etag),
      // On a redirect, Content-Length is the redirect's own body: only X-Linked-Size counts.
      size: positiveInteger(header(response, "x-linked-size")) ?? (redirected ? undefined : positiveInteger(header(response, "content-length"))),
      commit: header(response, "x-repo-commit"),
    };
  }
}

export interface DownloadOptions {
  /** Called with bytes on disk so far and the total when known. */
  onProgress?: (done: number, total: number | undefined) => void;
  /** Called once per retry with the reason, e.g. for a log line. */
  onRetry?: (attempt: number, reason: string) => void;
}

export interface DownloadResult {
  sha256: string;
  size: number;
  /** Bytes that were already on disk when this download started. */
  resumedFrom: number;
}

/** A transfer that stopped part way: worth resuming. */
class InterruptedDownload extends Error {}

/** GET with redirects followed; the token is sent to the hub's host only. */
async function openDownload(file: HubFile, offset: number, config: Config): Promise<{ response: IncomingMessage; url: URL }> {
  let url = file.downloadUrl;
  const hubOrigin = file.resolveUrl.origin;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = { "accept-encoding": "identity" };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    if (config.store.hf_token && url.origin === hubOrigin) headers.authorization = `Bearer ${config.store.hf_token}`;
    const response = await httpRequest(url, { method: "GET", headers, ...requestTimeouts(config) });
    const location = header(response, "location");
    const status = response.statusCode ?? 0;
    if (status >= 300 && status < 400 && location) {
      response.resume();
      url = new URL(location, url);
      continue;
    }
    return { response, url };
  }
  throw new EdgeError("download_failed", `too many redirects downloading ${canonicalHfRef(file.ref)}`);
}

/** One attempt: resumes from what `partialPath` holds. */
async function attempt(file: HubFile, partialPath: string, config: Config, options: DownloadOptions): Promise<DownloadResult> {
  let offset = await partialSize(partialPath);
  if (file.size !== undefined && offset > file.size) {
    await rm(partialPath, { force: true }); // longer than the file: not a prefix of it
    offset = 0;
  }
  if (file.size !== undefined && offset === file.size && offset > 0) {
    // Everything arrived before (the process stopped before committing).
    const hash = await hashPrefix(partialPath, offset);
    return { sha256: hash.digest("hex"), size: offset, resumedFrom: offset };
  }
  const { response, url } = await openDownload(file, offset, config);
  const status = response.statusCode ?? 0;
  let start = offset;
  if (status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(response, "content-range") ?? "");
    if (!range || Number(range[1]) !== offset) {
      response.resume();
      await rm(partialPath, { force: true });
      throw new InterruptedDownload(`the server answered a different range (${header(response, "content-range") ?? "none"}); starting over`);
    }
  } else if (status === 200) {
    start = 0; // the server ignored Range: take the whole file again
  } else if (status === 416) {
    response.resume();
    await rm(partialPath, { force: true });
    throw new InterruptedDownload("the server refused the resume range; starting over");
  } else {
    response.resume();
    if (status >= 500 || status === 429) throw new InterruptedDownload(`${url.origin} answered HTTP ${status}`);
    throw statusError(response, file.ref, url);
  }
  if (start === 0 && offset > 0) await truncate(partialPath, 0);
  const hash = await hashPrefix(partialPath, start);
  const bodyLength = positiveInteger(header(response, "content-length"));
  const total = file.size ?? (bodyLength !== undefined ? start + bodyLength : undefined);
  options.onProgress?.(start, total);
  const done = await appendToPartial(
    response,
    partialPath,
    start,
    hash,
    (bytes) => options.onProgress?.(bytes, total),
    (bytes, error) => new InterruptedDownload(`the transfer broke off after ${bytes} of ${total ?? "?"} bytes (${describeNetworkError(error)})`),
  );
  if ((bodyLength !== undefined && done !== start + bodyLength) || (total !== undefined && done < total)) {
    throw new InterruptedDownload(`the connection closed after ${done} of ${total ?? start + (bodyLength ?? 0)} bytes`);
  }
  return { sha256: hash.digest("hex"), size: done, resumedFrom: offset };
}

/**
 * Downloads `file` into `partialPath`, resuming from whatever it already holds
 * and retrying broken transfers up to `store.download_retries` times. The
 * partial file stays on failure, so the next run resumes.
 */
export async function downloadHubFile(file: HubFile, partialPath: string, config: Config, options: DownloadOptions = {}): Promise<DownloadResult> {
  const initial = await partialSize(partialPath);
  for (let tries = 0; ; tries++) {
    try {
      const result = await attempt(file, partialPath, config, options);
      return { ...result, resumedFrom: initial };
    } catch (error) {
      const retryable = error instanceof InterruptedDownload || isNetworkError(error);
      const reason = error instanceof Error ? error.message : String(error);
      if (!retryable) throw error;
      if (tries >= config.store.download_retries) {
        const have = await partialSize(partialPath);
        throw new EdgeError(
          "download_failed",
          `download of ${canonicalHfRef(file.ref)} interrupted: ${reason}; ${have > 0 ? `${have} bytes kept — run the same command again to resume` : "run the same command again to retry"}`,
          { details: { partial: partialPath, bytes: have } },
        );
      }
      options.onRetry?.(tries + 1, reason);
      await sleep(Math.min(5000, 250 * 2 ** tries));
    }
  }
}
