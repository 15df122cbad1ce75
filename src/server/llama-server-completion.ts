/**
 * llama-server's native /completion (and /infill) in edgelm's terms: its
 * request fields become a GenerateRequest, and a generation becomes its answer
 * object — or its SSE stream (`data: {"content", "tokens", "stop": false, ...}`
 * per piece, then the final object with `"stop": true`; no `[DONE]`), as
 * tools/server/README.md of the bundled llama.cpp describes.
 */
import { DEFAULT_SAMPLING, type GeneratedChunk, type GenerateRequest, type GenerationResult } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import type { ServedModel, ServedModelStatus } from "../scheduler/served-model.js";
import type { StreamFormat } from "./generation-response.js";
import { llamaFieldsRequest } from "./llama-server-fields.js";
import type { LlamaCompletionBody } from "./llama-server-schemas.js";
import { samplerSeed, stopList } from "./request-fields.js";
import type { SseWriter } from "./sse-writer.js";

function unsupported(param: string, message: string): EdgeError {
  return new EdgeError("unsupported", `${param}: ${message}`, { param });
}

/** Checks token ids against the model's vocabulary (an id beyond it would crash llama.cpp). */
export function checkTokenIds(tokens: readonly number[], status: ServedModelStatus, param: string): void {
  const vocab = status.info?.vocabSize ?? status.summary?.vocabSize;
  if (vocab === undefined) return;
  const bad = tokens.findIndex((t) => t >= vocab);
  if (bad !== -1) throw new EdgeError("invalid_request", `${param}[${bad}]: token id ${tokens[bad]} is outside the vocabulary (0–${vocab - 1})`, { param });
}

/** A prompt of text and token ids as token ids: text pieces are tokenized (a leading one with BOS, as llama-server does, unless `bos` is false). */
export async function promptTokenIds(prompt: ReadonlyArray<string | number>, model: ServedModel, bos = true): Promise<number[]> {
  const tokens: number[] = [];
  for (const [i, piece] of prompt.entries()) {
    if (typeof piece === "number") tokens.push(piece);
    else tokens.push(...(await model.tokenize(piece, { addBos: bos && i === 0 })));
  }
  return tokens;
}

/** The engine request for a /completion body, and the prompt as the answer's `prompt` field shows it. */
export async function nativeCompletionRequest(
  body: LlamaCompletionBody,
  model: ServedModel,
  status: ServedModelStatus,
): Promise<{ request: GenerateRequest; promptText: string }> {
  if (body.n_cmpl != null && body.n_cmpl !== 1) throw unsupported("n_cmpl", `only one completion per request is supported, got ${body.n_cmpl}`);
  if (body.n_predict === 0) throw unsupported("n_predict", "0 (evaluate the prompt only) is not supported; ask for at least one token, or -1");
  if (body.post_sampling_probs) throw unsupported("post_sampling_probs", "probabilities after the sampler chain are not available; leave it out for logprobs");
  if (body.lora && body.lora.length > 0) throw unsupported("lora", "LoRA adapters are not supported");
  if (body.response_fields && body.response_fields.length > 0) throw unsupported("response_fields", "the answer always has every field; leave it out");
  const request = llamaFieldsRequest(body);
  if (body.json_schema) {
    if (request.responseFormat) throw new EdgeError("invalid_request", "json_schema: send either grammar or json_schema, not both", { param: "json_schema" });
    request.responseFormat = { type: "json_schema", schema: body.json_schema };
  }
  if (body.n_predict != null) request.maxTokens = body.n_predict;
  if (body.temperature != null) request.temperature = body.temperature;
  if (body.top_p != null) request.topP = body.top_p;
  if (body.presence_penalty != null) request.presencePenalty = body.presence_penalty;
  if (body.frequency_penalty != null) request.frequencyPenalty = body.frequency_penalty;
  if (body.ignore_eos) request.ignoreEos = true;
  if (body.n_probs) request.logprobs = body.n_probs;
  const seed = samplerSeed(body.seed);
  if (seed !== undefined) request.seed = seed;
  const stop = stopList(body.stop);
  if (stop) request.stop = stop;
  if (body.logit_bias) request.logitBias = await logitBiasOf(body.logit_bias, model, status);
  let promptText: string;
  if (typeof body.prompt === "string") {
    request.prompt = promptText = body.prompt;
  } else if (body.prompt.length > 0 && body.prompt.every((p) => typeof p === "string") && body.prompt.length > 1) {
    throw unsupported("prompt", `one prompt per request is supported, got ${body.prompt.length}`);
  } else if (body.prompt.length === 1 && typeof body.prompt[0] === "string") {
    request.prompt = promptText = body.prompt[0];
  } else {
    const tokens = await promptTokenIds(body.prompt, model);
    if (tokens.length === 0) throw new EdgeError("invalid_request", "prompt: must not be empty", { param: "prompt" });
    checkTokenIds(tokens, status, "prompt");
    request.promptTokens = tokens;
    promptText = await model.detokenize(tokens);
  }
  return { request, promptText };
}

async function logitBiasOf(
  bias: NonNullable<LlamaCompletionBody["logit_bias"]>,
  model: ServedModel,
  status: ServedModelStatus,
): Promise<Record<number, number>> {
  const entries: Array<[number | string, number | false]> = Array.isArray(bias)
    ? bias
    : Object.entries(bias).map(([key, value]) => [/^\d+$/.test(key) ? Number(key) : key, value]);
  const out: Record<number, number> = {};
  for (const [key, value] of entries) {
    const ids = typeof key === "number" ? [key] : await model.tokenize(key, { addBos: false });
    checkTokenIds(ids, status, "logit_bias");
    for (const id of ids) out[id] = value === false ? -100 : value;
  }
  return out;
}

// --- answers -----------------------------------------------------------------

export interface NativeMeta {
  model: string;
  promptText: string;
  request: GenerateRequest;
  contextSize: number;
  returnTokens: boolean;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function stopType(result: GenerationResult): string {
  if (result.finishReason === "length") return "limit";
  return result.stoppedBy !== undefined ? "word" : "eos";
}

function probabilities(chunks: readonly GeneratedChunk[]): unknown[] {
  const bytes = (text: string): number[] => [...Buffer.from(text, "utf8")];
  return chunks.flatMap((chunk) =>
    (chunk.logprobs ?? []).map((entry) => ({
      id: entry.id,
      token: entry.token,
      logprob: entry.logprob,
      bytes: bytes(entry.token),
      top_logprobs: entry.top.map((alt) => ({ id: alt.id, token: alt.token, logprob: alt.logprob, bytes: bytes(alt.token) })),
    })),
  );
}

/** What llama-server reports as `generation_settings`: the sampling this request ran with. */
function generationSettings(meta: NativeMeta): Record<string, unknown> {
  const r = meta.request;
  return {
    n_ctx: meta.contextSize,
    n_predict: r.maxTokens ?? -1,
    model: meta.model,
    seed: r.seed ?? 4294967295,
    temperature: r.temperature ?? DEFAULT_SAMPLING.temperature,
    top_k: r.topK ?? DEFAULT_SAMPLING.topK,
    top_p: r.topP ?? DEFAULT_SAMPLING.topP,
    min_p: r.minP ?? DEFAULT_SAMPLING.minP,
    typical_p: r.typicalP ?? 1,
    repeat_last_n: r.repeatLastN ?? DEFAULT_SAMPLING.repeatLastN,
    repeat_penalty: r.repeatPenalty ?? 1,
    presence_penalty: r.presencePenalty ?? 0,
    frequency_penalty: r.frequencyPenalty ?? 0,
    mirostat: 0,
    stop: r.stop ?? [],
    ignore_eos: r.ignoreEos === true,
    n_probs: r.logprobs ?? 0,
    grammar: r.responseFormat?.type === "grammar" ? r.responseFormat.gbnf : "",
    cache_prompt: r.cachePrompt ?? true,
  };
}

function timings(result: GenerationResult): Record<string, number> {
  const t = result.timings;
  const promptN = Math.max(0, t.promptTokens - t.cachedPromptTokens);
  return {
    cache_n: t.cachedPromptTokens,
    prompt_n: promptN,
    prompt_ms: round(t.promptMs),
    prompt_per_token_ms: promptN > 0 ? round(t.promptMs / promptN) : 0,
    prompt_per_second: t.promptMs > 0 ? round((promptN * 1000) / t.promptMs) : 0,
    predicted_n: t.completionTokens,
    predicted_ms: round(t.decodeMs),
    predicted_per_token_ms: round(t.perTokenMs),
    predicted_per_second: round(t.decodeTokensPerSecond),
  };
}

/** The answer object (the whole answer, or the last event of a stream). */
export function completionAnswer(result: GenerationResult, chunks: readonly GeneratedChunk[], meta: NativeMeta, text: string = result.text): Record<string, unknown> {
  const answer: Record<string, unknown> = {
    index: 0,
    content: text,
    tokens: meta.returnTokens ? chunks.flatMap((c) => c.tokens) : [],
    id_slot: 0,
    stop: true,
    model: meta.model,
    tokens_predicted: result.timings.completionTokens,
    tokens_evaluated: result.timings.promptTokens,
    generation_settings: generationSettings(meta),
    prompt: meta.promptText,
    has_new_line: result.text.includes("\n"),
    truncated: false,
    stop_type: stopType(result),
    stopping_word: result.stoppedBy ?? "",
    tokens_cached: result.timings.cachedPromptTokens,
    timings: timings(result),
  };
  if ((meta.request.logprobs ?? 0) > 0 && text.length > 0) answer.completion_probabilities = probabilities(chunks);
  return answer;
}

/** The SSE stream: one event per piece, the final object last (its content empty: the text went before). */
export function completionStreamFormat(writer: SseWriter, meta: NativeMeta, errorBody: (error: EdgeError) => unknown): StreamFormat {
  let predicted = 0;
  return {
    chunk(chunk) {
      if (chunk.text.length === 0 && chunk.tokens.length === 0) return;
      predicted += chunk.tokens.length;
      const event: Record<string, unknown> = { index: 0, content: chunk.text, tokens: chunk.tokens, stop: false, id_slot: 0, tokens_predicted: predicted };
      if (chunk.logprobs) event.completion_probabilities = probabilities([chunk]);
      writer.data(event);
    },
    finish(result) {
      writer.data(completionAnswer(result, [], meta, ""));
    },
    error(error) {
      writer.data(errorBody(error));
    },
  };
}
