/**
 * OpenAI's `n`: one request answered by n independent generations (choices
 * 0..n-1), each on a slot of its own, admitted like n requests (they may wait
 * in the queue). With a fixed seed, choice i samples with seed + i (wrapping
 * at llama.cpp's 32-bit seed), so the choices differ and the same request
 * gives the same n answers again; without one, each choice draws its own.
 *
 * The n generations share one cancellation: the request's (client gone,
 * timeout, shutdown) and the failure of any one choice both stop every
 * choice, which frees all n slots.
 */
import type { GeneratedChunk, GenerateRequest, GenerationResult } from "../engine/types.js";
import { EdgeError, toEdgeError } from "../errors.js";
import type { RequestScope } from "../scheduler/request-scope.js";
import type { RequestContext, ServedModel, ServedModelStatus, ServedStream } from "../scheduler/served-model.js";
import type { ApiDialect } from "./api-dialect.js";
import type { FastifyReply } from "fastify";
import type { StreamWriter } from "./stream-writer.js";
import { endAnswered, endStreamWithError, reportAnswer } from "./generation-response.js";

const SEED_MODULUS = 2 ** 32;

/** The most choices one request may ask for on `model`: its parallel slots (per runner; at least 1). */
export function maxChoices(model: ServedModelStatus): number {
  return Math.max(1, model.parallel);
}

/** `n` checked against the model: 1 when absent; a 400 naming `n` and the limit when out of range. */
export function choiceCount(n: number | null | undefined, model: ServedModelStatus): number {
  if (n === undefined || n === null) return 1;
  const limit = maxChoices(model);
  if (n < 1 || n > limit) {
    throw new EdgeError("invalid_request", `n: must be between 1 and ${limit} (the parallel slots of model ${model.name}), got ${n}`, { param: "n" });
  }
  return n;
}

/** The request of choice `index`: its seed moved by the index when a seed is set. */
export function choiceRequest(request: GenerateRequest, index: number): GenerateRequest {
  if (request.seed === undefined || index === 0) return request;
  return { ...request, seed: (request.seed + index) % SEED_MODULUS };
}

/**
 * n generations started together, with the one switch that stops them all.
 * Each choice is read as soon as it has started, so a choice still waiting
 * for its slot holds up no other.
 */
export class ChoiceSet {
  private constructor(
    /** Choice i's stream, once it has a slot (rejects when it is refused). */
    readonly starts: Array<Promise<ServedStream>>,
    private readonly controller: AbortController,
    private readonly detach: () => void,
  ) {}

  /** Starts `n` generations of `request` on `model` for `scope`; read them with collectChoices or streamChoices. */
  static start(model: ServedModel, request: GenerateRequest, n: number, scope: RequestScope): ChoiceSet {
    const controller = new AbortController();
    const forward = (): void => controller.abort(scope.signal.reason);
    if (scope.signal.aborted) forward();
    else scope.signal.addEventListener("abort", forward, { once: true });
    const context: RequestContext = {
      requestId: scope.requestId,
      route: scope.route,
      receivedAt: scope.receivedAt,
      headers: scope.headers,
      signal: controller.signal,
    };
    const starts = Array.from({ length: n }, (_, i) => model.generate(choiceRequest(request, i), context));
    // Their readers handle refusals; this keeps one that is refused before its reader awaits it from counting as unhandled.
    for (const started of starts) started.catch(() => {});
    return new ChoiceSet(starts, controller, () => scope.signal.removeEventListener("abort", forward));
  }

  /** Stops every choice: those generating end, those waiting for a slot are refused; their slots free. */
  cancel(reason: EdgeError): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Lets go of the request's signal once the choices are done. */
  close(): void {
    this.detach();
  }
}

/**
 * Reads every choice to its end, `onChunk` seeing each piece as it comes and
 * `onResult` each choice's result; resolves with the streams and results in
 * choice order. A cancelled request throws why; the first choice to fail
 * stops the others and its error is thrown.
 */
async function readChoices(
  scope: RequestScope,
  choices: ChoiceSet,
  onStart: (stream: ServedStream) => void,
  onChunk: (index: number, chunk: GeneratedChunk) => void,
  onResult: (index: number, result: GenerationResult) => void,
): Promise<Array<{ stream: ServedStream; result: GenerationResult }>> {
  return Promise.all(
    choices.starts.map(async (started, index) => {
      try {
        const stream = await started;
        onStart(stream);
        for await (const chunk of stream) onChunk(index, chunk);
        const result = await stream.result;
        // Stopped: by the request's cancellation (a client gone, a timeout, a shutdown) or a failed sibling.
        if (result.finishReason === "abort") throw scope.cancelReason ?? new EdgeError("aborted", "the generation was cancelled");
        onResult(index, result);
        return { stream, result };
      } catch (error) {
        choices.cancel(toEdgeError(error));
        throw error;
      }
    }),
  );
}

/** Usage of n choices as OpenAI counts it: the prompt once, the completions summed. */
export function summedTimings(results: GenerationResult[]): { promptTokens: number; completionTokens: number; cachedPromptTokens: number } {
  const first = results[0]!.timings;
  return {
    promptTokens: first.promptTokens,
    completionTokens: results.reduce((sum, r) => sum + r.timings.completionTokens, 0),
    cachedPromptTokens: first.cachedPromptTokens,
  };
}

/**
 * The end of an n-choice request on its scope: each choice's answer (request:answer, with its index), then
 * the outcome — choice 0's finish reason, the prompt once, the completions summed, the longest queue wait.
 */
function endChoices(scope: RequestScope, done: Array<{ stream: ServedStream; result: GenerationResult }>, ttftMs: number | undefined): void {
  done.forEach((d, index) => reportAnswer(scope, d.stream, d.result, index));
  const usage = summedTimings(done.map((d) => d.result));
  endAnswered(scope, {
    finishReason: done[0]!.result.finishReason,
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
    queueWaitMs: Math.max(...done.map((d) => d.stream.queueWaitMs)),
    ttftMs,
    route: done[0]!.stream.route,
  });
}

/** One collected choice: its result and the chunks that carry logprobs. */
export interface CollectedChoice {
  result: GenerationResult;
  chunks: GeneratedChunk[];
}

/**
 * Collects every choice (non-streaming responses); `onStart` sees each stream
 * as it starts (route headers). A cancelled request throws why; a failed
 * choice stops the others and throws its error.
 */
export async function collectChoices(scope: RequestScope, choices: ChoiceSet, onStart: (stream: ServedStream) => void): Promise<CollectedChoice[]> {
  let ttftMs: number | undefined;
  const chunks: GeneratedChunk[][] = choices.starts.map(() => []);
  try {
    const done = await readChoices(
      scope,
      choices,
      onStart,
      (index, chunk) => {
        if (ttftMs === undefined && chunk.text.length > 0) ttftMs = performance.now() - scope.receivedAt;
        if (chunk.logprobs) chunks[index]!.push(chunk);
      },
      () => {},
    );
    endChoices(scope, done, ttftMs);
    return done.map((d, index) => ({ result: d.result, chunks: chunks[index]! }));
  } finally {
    choices.close();
  }
}

/** How a dialect writes n interleaved choices on one stream. */
export interface ChoicesStreamFormat {
  chunk(index: number, chunk: GeneratedChunk): void;
  /** Choice `index` ended: its closing frames. */
  finishChoice(index: number, result: GenerationResult): void;
  /** Every choice ended: the stream's closing frames (usage, end marker). */
  finish(results: GenerationResult[]): void;
  /** An in-band error, once the headers are out. */
  error(error: EdgeError): void;
}

/**
 * Streams n choices to the client as their pieces come, each frame naming its
 * choice; never throws (every failure ends the response in the dialect's
 * shape, after stopping every choice). The headers go out with the first
 * piece, so a choice refused before any token (queue full, model not ready)
 * is still a status code; `onStart` sees each stream as it starts.
 */
export async function streamChoices(
  reply: FastifyReply,
  scope: RequestScope,
  choices: ChoiceSet,
  writer: StreamWriter,
  format: ChoicesStreamFormat,
  dialect: ApiDialect,
  onStart: (stream: ServedStream) => void,
): Promise<void> {
  reply.hijack();
  let ttftMs: number | undefined;
  try {
    const done = await readChoices(
      scope,
      choices,
      (stream) => {
        if (!writer.headersSent) onStart(stream);
      },
      (index, chunk) => {
        if (ttftMs === undefined && chunk.text.length > 0) ttftMs = performance.now() - scope.receivedAt;
        format.chunk(index, chunk);
      },
      (index, result) => format.finishChoice(index, result),
    );
    format.finish(done.map((d) => d.result));
    writer.end();
    endChoices(scope, done, ttftMs);
  } catch (caught) {
    const error = toEdgeError(caught);
    if (scope.cancelReason?.code === "aborted") {
      // The client went away: nobody to answer.
      writer.end();
      scope.end({ status: 200, errorCode: "aborted" });
    } else {
      endStreamWithError(reply, scope, writer, format, dialect, error);
    }
  } finally {
    choices.close();
  }
}
