/**
 * One HTTP(S) request with the timeouts a download needs, on node:http — no
 * redirects followed here (the caller decides which to follow and which
 * headers survive them), and network failures turned into one clear
 * `network_unreachable` error naming the host.
 */
import { request as httpRequestRaw, type IncomingMessage } from "node:http";
import { request as httpsRequestRaw } from "node:https";
import type { Readable } from "node:stream";
import { EdgeError } from "../errors.js";

export interface HttpRequestOptions {
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  headers?: Record<string, string>;
  /** The request body: bytes, or a stream piped into the request (send its length in `content-length`). */
  body?: Buffer | Readable;
  /** PEM certificates to trust for HTTPS instead of Node's built-in roots (a registry with its own CA). */
  ca?: string[];
  /** Milliseconds for the connection and the response headers. */
  connectTimeoutMs: number;
  /** Milliseconds the socket may stay silent once the body flows. */
  stallTimeoutMs: number;
}

const NETWORK_CODES: Record<string, string> = {
  ENOTFOUND: "host not found",
  EAI_AGAIN: "name resolution failed",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENETUNREACH: "network unreachable",
  EHOSTUNREACH: "host unreachable",
  ETIMEDOUT: "timed out",
  EPIPE: "connection closed",
  ECONNABORTED: "connection aborted",
  ESTALLED: "stalled",
};

/** True for errors that mean "could not talk to the server" (worth a retry, or offline). */
export function isNetworkError(error: unknown): boolean {
  return error instanceof EdgeError && error.code === "network_unreachable";
}

/** Describes a low-level network failure in a few words ("connection refused"). */
export function describeNetworkError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code && NETWORK_CODES[code]) return `${NETWORK_CODES[code]}: ${code}`;
  if (code === "EPROTO") return "TLS handshake failed: EPROTO";
  if (code && TLS_CERTIFICATE_CODES.has(code)) return `certificate not trusted: ${code}`;
  return ((error as Error)?.message ?? String(error)).split("\n")[0]!;
}

/** Node's codes for a server certificate it does not trust. */
export const TLS_CERTIFICATE_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Sends a request and resolves with the response once its headers arrive.
 * The body is left to the caller (read it, or `resume()` to discard it).
 */
export function httpRequest(url: URL, options: HttpRequestOptions): Promise<IncomingMessage> {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Promise.reject(new EdgeError("usage", `cannot download from ${url.href}: only http and https are supported`));
  }
  const send = url.protocol === "https:" ? httpsRequestRaw : httpRequestRaw;
  return new Promise((resolvePromise, reject) => {
    let settled = false;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      reject(
        error instanceof EdgeError
          ? error
          : new EdgeError("network_unreachable", `cannot reach ${url.origin} (${describeNetworkError(error)})`, {
              details: { url: url.href, code: (error as NodeJS.ErrnoException)?.code },
              cause: error,
            }),
      );
    };
    const req = send(url, {
      method: options.method,
      headers: { "user-agent": "edgelm", ...options.headers },
      ...(options.ca && options.ca.length > 0 && url.protocol === "https:" ? { ca: options.ca } : {}),
    });
    const connectTimer = setTimeout(() => {
      req.destroy(
        new EdgeError("network_unreachable", `cannot reach ${url.origin} (no answer within ${Math.round(options.connectTimeoutMs / 1000)} s)`, {
          details: { url: url.href, code: "ETIMEDOUT" },
        }),
      );
    }, options.connectTimeoutMs);
    let received: IncomingMessage | undefined;
    req.setTimeout(options.stallTimeoutMs, () => {
      const stalled = Object.assign(new Error(`no data for ${Math.round(options.stallTimeoutMs / 1000)} s`), { code: "ESTALLED" });
      // Once the body flows, its reader must see why it stopped.
      if (received) received.destroy(stalled);
      req.destroy(stalled);
    });
    req.on("error", fail);
    req.on("response", (response) => {
      if (settled) {
        response.destroy();
        return;
      }
      settled = true;
      clearTimeout(connectTimer);
      received = response;
      resolvePromise(response);
    });
    const body = options.body;
    if (body === undefined || Buffer.isBuffer(body)) req.end(body);
    else {
      body.on("error", (error) => req.destroy(error));
      body.pipe(req);
    }
  });
}
