/**
 * An API dialect (OpenAI, Ollama): its routes, and the one function that turns
 * an EdgeError into its error body. Status codes and headers come from the
 * error code (ERROR_CODES), the same for every dialect.
 */
import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { EdgeError } from "../errors.js";
import type { DialectHost } from "./app-host.js";

export interface ApiDialect {
  readonly name: string;
  /** URL prefixes whose errors (404, 401, 413, ...) take this dialect's shape. */
  readonly prefixes: readonly string[];
  /** Adds its routes; they find models through `host.directory` only. */
  register(app: FastifyInstance, host: DialectHost): void;
  /** The one place an EdgeError becomes this dialect's error body (HTTP responses and in-stream errors alike). */
  errorBody(error: EdgeError): unknown;
}

/** Headers an error response carries: Retry-After for capacity errors, WWW-Authenticate for 401. */
export function errorHeaders(error: EdgeError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (error.retryAfter !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(error.retryAfter)));
  if (error.status === 401) headers["www-authenticate"] = 'Bearer realm="edgelm"';
  return headers;
}

/** Writes an error response on a raw (hijacked) response whose headers are not out yet. */
export function writeErrorResponse(res: ServerResponse, dialect: ApiDialect, error: EdgeError): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(error.status, { "content-type": "application/json; charset=utf-8", ...errorHeaders(error) });
  res.end(JSON.stringify(dialect.errorBody(error)));
}
