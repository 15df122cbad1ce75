/**
 * How Ollama's model management answers long work: NDJSON status lines
 * (`pulling manifest`, `{status: "pulling <digest>", digest, total, completed}`,
 * ..., `success`), errors in-band once the stream has started; or with
 * `stream: false` one `{"status": "success"}` object.
 */
import type { FastifyReply } from "fastify";
import { EdgeError, toEdgeError } from "../errors.js";
import type { ProgressEvent } from "../progress.js";
import type { RequestScope } from "../scheduler/request-scope.js";
import { writeErrorResponse, type ApiDialect } from "./api-dialect.js";
import { NdjsonWriter } from "./ndjson-writer.js";

/** `model` (current clients) or `name` (older ones, and ollama-js for pull/push/delete). */
export function modelName(body: { model?: string | undefined; name?: string | undefined }): string {
  const name = body.model ?? body.name;
  if (!name) throw new EdgeError("invalid_request", "model: required", { param: "model" });
  return name;
}

/** One progress line of Ollama's shape. */
export type StatusLine = { status: string; digest?: string; total?: number; completed?: number };

/**
 * Runs long work that reports status lines: streamed as NDJSON (default, as
 * Ollama) with errors in-band once started, or with `stream: false` one final
 * `{"status": "success"}` (or the error's status code).
 */
export async function runWithStatus(
  reply: FastifyReply,
  scope: RequestScope,
  stream: boolean,
  dialect: ApiDialect,
  work: (status: (line: StatusLine) => void) => Promise<void>,
): Promise<unknown> {
  if (!stream) {
    await work(() => {});
    scope.end({ status: 200 });
    return { status: "success" };
  }
  reply.hijack();
  const writer = new NdjsonWriter(reply.raw);
  try {
    await work((line) => writer.line(line));
    writer.line({ status: "success" });
    scope.end({ status: 200 });
  } catch (error) {
    const edge = toEdgeError(error);
    scope.end({ status: writer.headersSent ? 200 : edge.status, errorCode: edge.code });
    if (!writer.headersSent) {
      writeErrorResponse(reply.raw, dialect, edge);
      return reply;
    }
    writer.line(dialect.errorBody(edge));
  }
  writer.end();
  return reply;
}

/** Progress events as Ollama's `{status: "pulling <digest>", digest, total, completed}` lines, at most one per 100 ms per piece. */
export function progressLines(verb: string, fallbackDigest: () => string, status: (line: StatusLine) => void): (event: ProgressEvent) => void {
  let last = 0;
  return (event) => {
    const now = performance.now();
    if (!event.finished && now - last < 100) return;
    last = now;
    const hex = event.digest ?? fallbackDigest();
    status({ status: `${verb} ${hex.slice(0, 12)}`, digest: `sha256:${hex}`, total: event.total ?? event.done, completed: event.done });
  };
}

