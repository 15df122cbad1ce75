/**
 * One HTTP(S) request with the timeouts a download needs, on node:http — no
 * redirects followed here (the caller decides which to follow and which
 * headers survive them), and network failures turned into one clear
 * `network_unreachable` error naming the host.
 */
import { request as httpRequestRaw, type IncomingMessage } from "node:http";
import { request as httpsRequestRaw } from "node:https";
import { EdgeError } from "../errors.js";

export interface HttpRequestOptions {
  method: "GET" | "HEAD";
  headers?: Record<string, string>;
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
  return (error as Error)?.message ?? String(error);
}

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
    const req = send(url, { method: options.method, headers: { "user-agent": "edgelm", ...options.headers } });
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
    req.end();
  });
}
