/**
 * The engine's GenerateRequest as a body for llama-server's native streaming
 * `/completion` endpoint, and its events back as the engine's chunks and
 * timings. Sampling settings are always sent in full (the engine's defaults,
 * as the node-llama-cpp backend applies them), so llama-server's own defaults
 * never leak into a result.
 */
import { EdgeError } from "../../errors.js";
import { makeTimings } from "../token-stream.js";
import { DEFAULT_SAMPLING, type FinishReason, type GeneratedChunk, type GenerateRequest, type Timings, type TokenLogprob } from "../types.js";
import { contextOverflowError } from "../context-overflow.js";
import type { ToolCallSyntax } from "../tool-call-syntax.js";

export interface CompletionPrompt {
  /** Text (llama-server adds BOS and parses special tokens) or token ids (used as they are). */
  prompt: string | number[];
  /** Tokens to generate: a count, or -1 for until end of text or a full context. */
  nPredict: number;
  /** Stop strings beyond the request's own (e.g. the fallback chat template's). */
  extraStops: string[];
  /** For a chat: the syntax its tools and calls are written in. */
  toolSyntax?: ToolCallSyntax;
}

export function completionBody(request: GenerateRequest, prompt: CompletionPrompt): Record<string, unknown> {
  const body: Record<string, unknown> = {
    prompt: prompt.prompt,
    n_predict: prompt.nPredict,
    stream: true,
    return_tokens: true,
    cache_prompt: request.cachePrompt ?? true,
    temperature: request.temperature ?? DEFAULT_SAMPLING.temperature,
    top_k: request.topK ?? DEFAULT_SAMPLING.topK,
    top_p: request.topP ?? DEFAULT_SAMPLING.topP,
    min_p: request.minP ?? DEFAULT_SAMPLING.minP,
    // As the node-llama-cpp backend: no repeat penalty unless asked for.
    repeat_penalty: request.repeatPenalty ?? 1,
    repeat_last_n: request.repeatLastN ?? DEFAULT_SAMPLING.repeatLastN,
    frequency_penalty: request.frequencyPenalty ?? 0,
    presence_penalty: request.presencePenalty ?? 0,
    // llama.cpp's extra samplers stay off: the engine contract does not know them.
    typical_p: request.typicalP ?? 1,
    xtc_probability: 0,
    dry_multiplier: 0,
    top_n_sigma: -1,
    mirostat: 0,
    // llama-server would ping silent streams every few seconds; nothing here needs it.
    sse_ping_interval: -1,
  };
  if (request.seed !== undefined) body.seed = request.seed;
  if (request.ignoreEos) body.ignore_eos = true;
  const stops = [...(request.stop ?? []), ...prompt.extraStops].filter((s) => s.length > 0);
  if (stops.length > 0) body.stop = stops;
  if (request.logprobs !== undefined && request.logprobs > 0) body.n_probs = request.logprobs;
  if (request.logitBias && Object.keys(request.logitBias).length > 0) {
    body.logit_bias = Object.entries(request.logitBias).map(([id, bias]) => [Number(id), bias <= -100 ? false : bias]);
  }
  const format = request.responseFormat;
  if (format?.type === "json_object") body.json_schema = { type: "object" };
  else if (format?.type === "json_schema") body.json_schema = format.schema;
  else if (format?.type === "grammar") body.grammar = format.gbnf;
  return body;
}

interface ProbEntry {
  id: number;
  token: string;
  logprob: number;
  top_logprobs?: Array<{ id: number; token: string; logprob: number }>;
}

/** One streamed event as a chunk (text, token ids, log-probabilities), or undefined when it carries none. */
export function chunkFromEvent(event: Record<string, unknown>): GeneratedChunk | undefined {
  const text = typeof event.content === "string" ? event.content : "";
  const tokens = Array.isArray(event.tokens) ? (event.tokens as number[]) : [];
  const probs = Array.isArray(event.completion_probabilities) ? (event.completion_probabilities as ProbEntry[]) : undefined;
  if (text.length === 0 && tokens.length === 0 && !probs?.length) return undefined;
  const chunk: GeneratedChunk = { text, tokens };
  if (probs?.length) {
    chunk.logprobs = probs.map((p) => ({
      ...logprobOf(p),
      top: (p.top_logprobs ?? []).filter((t) => Number.isFinite(t.logprob) && t.logprob > -1e30).map(logprobOf),
    }));
  }
  return chunk;
}

/** Consecutive chunks of one stream as one (text, tokens and log-probabilities concatenated); undefined for none. */
export function joinChunks(chunks: GeneratedChunk[]): GeneratedChunk | undefined {
  if (chunks.length <= 1) return chunks[0];
  const joined: GeneratedChunk = { text: chunks.map((c) => c.text).join(""), tokens: chunks.flatMap((c) => c.tokens) };
  if (chunks.some((c) => c.logprobs)) joined.logprobs = chunks.flatMap((c) => c.logprobs ?? []);
  return joined;
}

function logprobOf(p: { id: number; token: string; logprob: number }): TokenLogprob {
  return { id: p.id, token: p.token, logprob: p.logprob };
}

/** Why llama-server stopped, in the engine's terms. */
export function finishReasonOf(event: Record<string, unknown>): { finishReason: FinishReason; stoppedBy?: string } {
  const type = event.stop_type;
  if (type === "limit") return { finishReason: "length" };
  if (type === "word" && typeof event.stopping_word === "string" && event.stopping_word.length > 0) {
    return { finishReason: "stop", stoppedBy: event.stopping_word };
  }
  return { finishReason: "stop" };
}

interface ServerTimings {
  cache_n?: number;
  prompt_n?: number;
  prompt_ms?: number;
  predicted_n?: number;
  predicted_ms?: number;
}

/**
 * The request's timings: time to first token and total as the caller saw them;
 * prompt and decode times and token counts from llama-server's own `timings`
 * (when the final event carried them; an aborted stream has none).
 */
export function timingsOf(
  clock: { startedAt: number; firstTokenAt: number | undefined; endedAt: number },
  server: ServerTimings | undefined,
  counted: { promptTokens: number | undefined; completionTokens: number },
): Timings {
  const cached = server?.cache_n ?? 0;
  const promptTokens = server?.prompt_n !== undefined ? server.prompt_n + cached : (counted.promptTokens ?? 0);
  const completionTokens = server?.predicted_n ?? counted.completionTokens;
  const base = makeTimings({
    startedAt: clock.startedAt,
    firstTokenAt: clock.firstTokenAt,
    promptDoneAt: clock.firstTokenAt,
    endedAt: clock.endedAt,
    promptTokens,
    cachedPromptTokens: cached,
    completionTokens,
  });
  if (!server || server.prompt_ms === undefined || server.predicted_ms === undefined) return base;
  const round = (v: number): number => Math.round(v * 1000) / 1000;
  const promptMs = server.prompt_ms;
  // llama-server's decode time runs from the first sampled token to the last.
  const decodeMs = server.predicted_ms;
  return {
    ...base,
    promptMs: round(promptMs),
    decodeMs: round(decodeMs),
    perTokenMs: completionTokens > 1 ? round(decodeMs / (completionTokens - 1)) : 0,
    decodeTokensPerSecond: completionTokens > 1 && decodeMs > 0 ? round(((completionTokens - 1) * 1000) / decodeMs) : 0,
    promptTokensPerSecond: (server.prompt_n ?? 0) > 0 && promptMs > 0 ? round(((server.prompt_n ?? 0) * 1000) / promptMs) : 0,
  };
}

/** llama-server's refusal of a request (a 4xx/5xx answer or an error event) as an EdgeError. */
export function refusalError(status: number, body: { message?: string; type?: string; [key: string]: unknown }, contextSize: number): EdgeError {
  const message = String(body.message ?? "the request was refused");
  if (body.type === "exceed_context_size_error") {
    return contextOverflowError(Number(body.n_prompt_tokens), contextSize);
  }
  if (/json_schema|grammar/i.test(message)) {
    return new EdgeError("invalid_request", `response_format: ${message.replace(/^Field '[^']*': /, "")}`, { param: "response_format" });
  }
  if (status >= 400 && status < 500) return new EdgeError("invalid_request", `llama-server refused the request: ${message}`);
  return new EdgeError("internal", `llama-server failed: ${message}`);
}
