/**
 * The two ways a generation becomes a response, shared by the dialects:
 * streamed (SSE or NDJSON; headers wait for the first piece, so an error before
 * any token is still a status code, and one after it goes in-band), or
 * collected into one body.
 */
import type { FastifyReply } from "fastify";
import type { GeneratedChunk, GenerationResult } from "../engine/types.js";
import { toEdgeError, type EdgeError } from "../errors.js";
import type { ServedStream } from "../scheduler/served-model.js";
import { writeErrorResponse, type ApiDialect } from "./api-dialect.js";
import type { RequestScope } from "../scheduler/request-scope.js";
import type { StreamWriter } from "./stream-writer.js";

/** How a dialect writes one streamed generation. */
export interface StreamFormat {
  chunk(chunk: GeneratedChunk): void;
  finish(result: GenerationResult): void;
  /** An in-band error, once the headers are out. */
  error(error: EdgeError): void;
}

/** Streams `stream` to the client; never throws (every failure ends the response in the dialect's shape). */
export async function streamGeneration(
  reply: FastifyReply,
  scope: RequestScope,
  stream: ServedStream,
  writer: StreamWriter,
  format: StreamFormat,
  dialect: ApiDialect,
): Promise<void> {
  reply.hijack();
  let ttftMs: number | undefined;
  try {
    for await (const chunk of stream) {
      if (ttftMs === undefined && chunk.text.length > 0) ttftMs = performance.now() - scope.receivedAt;
      format.chunk(chunk);
    }
    const result = await stream.result;
    if (result.finishReason === "abort") {
      const reason = scope.cancelReason;
      // A timeout or a shutdown is news for a client that is still there.
      if (reason && reason.code !== "aborted") throw reason;
    } else {
      format.finish(result);
    }
    writer.end();
    endCollected(scope, stream, { result, ttftMs });
  } catch (caught) {
    endStreamWithError(reply, scope, writer, format, dialect, toEdgeError(caught));
  }
}

/**
 * Ends a streamed response that failed: a status code in the dialect's shape
 * while no header is out, else the error in-band and the end of the stream;
 * the scope ends with the error's code either way.
 */
export function endStreamWithError(reply: FastifyReply, scope: RequestScope, writer: StreamWriter, format: { error(error: EdgeError): void }, dialect: ApiDialect, error: EdgeError): void {
  if (!writer.headersSent) {
    writeErrorResponse(reply.raw, dialect, error);
    scope.end({ status: error.status, errorCode: error.code });
  } else {
    format.error(error);
    writer.end();
    scope.end({ status: 200, errorCode: error.code });
  }
}

/**
 * Collects a whole generation (non-streaming responses): the chunks with
 * logprobs, or every chunk with `allChunks` (for their token ids). A cancelled
 * one throws why (timeout, shutdown, client gone).
 */
export async function collectGeneration(
  scope: RequestScope,
  stream: ServedStream,
  allChunks = false,
): Promise<{ result: GenerationResult; chunks: GeneratedChunk[]; ttftMs: number | undefined }> {
  const chunks: GeneratedChunk[] = [];
  let ttftMs: number | undefined;
  for await (const chunk of stream) {
    if (ttftMs === undefined && chunk.text.length > 0) ttftMs = performance.now() - scope.receivedAt;
    if (allChunks || chunk.logprobs) chunks.push(chunk);
  }
  const result = await stream.result;
  if (result.finishReason === "abort") {
    throw scope.cancelReason ?? toEdgeError(new Error("the generation was cancelled"));
  }
  return { result, chunks, ttftMs };
}

/** Reports a finished generation's answer (request:answer) and outcome (request:end) on its scope (any transport). */
export function endCollected(scope: RequestScope, stream: ServedStream, collected: { result: GenerationResult; ttftMs: number | undefined }): void {
  reportAnswer(scope, stream, collected.result);
  const { timings } = collected.result;
  endAnswered(scope, {
    finishReason: collected.result.finishReason,
    promptTokens: timings.promptTokens,
    completionTokens: timings.completionTokens,
    queueWaitMs: stream.queueWaitMs,
    ttftMs: collected.ttftMs,
    route: stream.route,
  });
}

/** One generation's answer on the gateway's events (request:answer); `choice` names it among n choices. */
export function reportAnswer(scope: RequestScope, stream: ServedStream, result: GenerationResult, choice?: number): void {
  const local = stream.local;
  scope.answered({
    text: result.text,
    finishReason: result.finishReason,
    ...(local ? { localModel: local.model, ...(local.format ? { format: local.format } : {}) } : {}),
    ...(choice !== undefined ? { choice } : {}),
  });
}

/** What a request that answered in full ends with on its scope (request:end). */
export interface AnsweredOutcome {
  finishReason: GenerationResult["finishReason"];
  promptTokens: number;
  completionTokens: number;
  queueWaitMs: number;
  ttftMs: number | undefined;
  route: ServedStream["route"];
}

/** Ends a request that answered in full: status 200 with its usage, wait, first-token time and route. */
export function endAnswered(scope: RequestScope, outcome: AnsweredOutcome): void {
  scope.end({
    status: 200,
    finishReason: outcome.finishReason,
    promptTokens: outcome.promptTokens,
    completionTokens: outcome.completionTokens,
    queueWaitMs: outcome.queueWaitMs,
    ...(outcome.ttftMs !== undefined ? { ttftMs: outcome.ttftMs } : {}),
    ...(outcome.route ? { servedRoute: outcome.route.target } : {}),
  });
}

/**
 * Says where a routed request was served, in response headers (set before the
 * first byte, so streamed and whole responses alike carry them).
 */
export function setRouteHeaders(reply: FastifyReply, stream: ServedStream): void {
  if (!stream.route) return;
  reply.raw.setHeader("x-edgelm-route", stream.route.target);
  reply.raw.setHeader("x-edgelm-served-by", stream.route.servedBy);
  // Header values must be plain ASCII on one line.
  reply.raw.setHeader("x-edgelm-route-reason", stream.route.reason.replace(/[^\x20-\x7e]/g, "?").slice(0, 200));
}
