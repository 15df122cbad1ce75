/**
 * Engine results as edgelm.v1 response messages (plain objects that
 * @grpc/proto-loader encodes): stream chunks, the final `done` with usage and
 * timings, and models.
 */
import type { FinishReason, GeneratedChunk, GenerationResult } from "../engine/types.js";
import type { ServedModelStatus, ServedStream } from "../scheduler/served-model.js";

const FINISH_REASONS: Record<FinishReason, string> = {
  stop: "FINISH_REASON_STOP",
  length: "FINISH_REASON_LENGTH",
  tool_calls: "FINISH_REASON_TOOL_CALLS",
  abort: "FINISH_REASON_UNSPECIFIED",
};

/** A Chunk message, or undefined for a chunk with nothing to send. */
export function chunkMessage(chunk: GeneratedChunk): Record<string, unknown> | undefined {
  if (chunk.text.length === 0 && !chunk.logprobs) return undefined;
  const message: Record<string, unknown> = { text: chunk.text, token_ids: chunk.tokens };
  if (chunk.logprobs) {
    message.logprobs = chunk.logprobs.map((entry) => ({
      token: entry.token,
      id: entry.id,
      logprob: entry.logprob,
      top: entry.top.map((alt) => ({ token: alt.token, id: alt.id, logprob: alt.logprob })),
    }));
  }
  return message;
}

/** The Done message closing a stream. `ttftMs` is from the call's arrival (queue wait included), when a token came. */
export function doneMessage(result: GenerationResult, stream: ServedStream, meta: { model: string; requestId: string; ttftMs: number | undefined }): Record<string, unknown> {
  const t = result.timings;
  return {
    finish_reason: FINISH_REASONS[result.finishReason],
    ...(result.stoppedBy !== undefined ? { stopped_by: result.stoppedBy } : {}),
    tool_calls: (result.toolCalls ?? []).map((c) => ({ id: c.id, name: c.name, arguments_json: c.arguments })),
    usage: { prompt_tokens: t.promptTokens, completion_tokens: t.completionTokens, cached_prompt_tokens: t.cachedPromptTokens },
    timings: {
      time_to_first_token_ms: meta.ttftMs ?? stream.queueWaitMs + t.timeToFirstTokenMs,
      queue_wait_ms: stream.queueWaitMs,
      prompt_ms: t.promptMs,
      decode_ms: t.decodeMs,
      total_ms: t.totalMs,
      decode_tokens_per_second: t.decodeTokensPerSecond,
      prompt_tokens_per_second: t.promptTokensPerSecond,
    },
    model: meta.model,
    request_id: meta.requestId,
  };
}

/** A Model message. */
export function modelMessage(model: ServedModelStatus): Record<string, unknown> {
  const info = model.info;
  return {
    name: model.name,
    ref: model.ref,
    state: model.state,
    ...(model.reason !== undefined ? { reason: model.reason } : {}),
    ...(model.sha256 !== undefined ? { sha256: model.sha256 } : {}),
    hash_verified: model.hashVerified,
    ...(model.trust ? { trust: model.trust.status } : {}),
    architecture: info?.architecture ?? model.summary?.architecture ?? "",
    quantization: info?.quantization ?? model.summary?.predominantType ?? "",
    parameter_count: info?.parameterCount ?? model.summary?.parameterCount ?? 0,
    file_size: model.fileSize,
    context_size: info?.contextSize ?? 0,
    parallel: model.parallel,
    backend: model.runners.find((r) => !r.draining)?.backend ?? "",
  };
}
