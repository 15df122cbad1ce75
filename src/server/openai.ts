/**
 * The OpenAI dialect: /v1/models, /v1/chat/completions, /v1/completions,
 * /v1/embeddings. Maps requests to the engine's GenerateRequest and results back
 * to OpenAI's objects (SSE chunks ending in `data: [DONE]`); errors take
 * OpenAI's shape `{"error": {message, type, param, code}}` in exactly one place
 * (errorBody), for HTTP responses and in-stream error events alike.
 */
import { selectAdapters } from "./adapter-selection.js";
import { randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ChatMessage, GeneratedChunk, GenerateRequest, GenerationResult, ResponseFormat, TokenLogprob } from "../engine/types.js";
import { EdgeError, type ErrorCode } from "../errors.js";
import type { ServedModel, ServedModelStatus, ServedStream } from "../scheduler/served-model.js";
import type { RequestScope } from "../scheduler/request-scope.js";
import { EDGELM_VERSION } from "../version.js";
import type { ApiDialect } from "./api-dialect.js";
import { scopeOf } from "./app.js";
import type { DialectHost } from "./app-host.js";
import { ChoiceSet, choiceCount, collectChoices, streamChoices, summedTimings, type ChoicesStreamFormat, type CollectedChoice } from "./choices.js";
import { collectGeneration, endCollected, setRouteHeaders, streamGeneration, type StreamFormat } from "./generation-response.js";
import {
  chatCompletionSchema,
  completionSchema,
  embeddingSchema,
  type ChatCompletionBody,
  type CompletionBody,
} from "./openai-schemas.js";
import { engineToolCalls, openAiToolCalls, openAiToolRequest, toolCallDeltas } from "./openai-tools.js";
import { llamaFieldsRequest } from "./llama-server-fields.js";
import { checkEmbeddingCount, logitBiasFor, samplerSeed, stopList } from "./request-fields.js";
import { jsonTemplate } from "./json-template.js";
import { parseRequestBody } from "./request-validation.js";
import { registerResponses } from "./responses.js";
import { SseWriter } from "./sse-writer.js";

const SYSTEM_FINGERPRINT = `edgelm-${EDGELM_VERSION}`;

/** OpenAI's names for the codes it has an equivalent of; ours otherwise. */
const OPENAI_CODES: Partial<Record<ErrorCode, string>> = {
  context_overflow: "context_length_exceeded",
  unauthorized: "invalid_api_key",
  queue_full: "rate_limit_exceeded",
};

function errorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

function errorBody(error: EdgeError): unknown {
  return {
    error: {
      message: error.message,
      type: errorType(error.status),
      param: error.param ?? null,
      code: OPENAI_CODES[error.code] ?? error.code,
    },
  };
}

export const openAiDialect: ApiDialect = {
  name: "openai",
  prefixes: ["/v1/"],
  register,
  errorBody,
};

function register(app: FastifyInstance, host: DialectHost): void {
  const timeoutMs = host.requestTimeoutMs;
  const directory = host.directory;
  registerResponses(app, host, openAiDialect);

  app.get("/v1/models", async (request) => {
    const scope = scopeOf(request, "openai.models");
    const data = directory.models().map(modelObject);
    scope.end({ status: 200 });
    return { object: "list", data };
  });

  app.get("/v1/models/*", async (request) => {
    const scope = scopeOf(request, "openai.model");
    const name = decodeURIComponent((request.params as { "*": string })["*"]);
    const status = directory.lookup(name).describe();
    scope.end({ status: 200 });
    return modelObject(status);
  });

  app.post("/v1/chat/completions", chatCompletionsRoute(host));

  app.post("/v1/completions", async (request, reply) => {
    const scope = scopeOf(request, "openai.completions");
    const body = parseRequestBody(completionSchema, request, reply, host);
    const selection = selectAdapters(directory, body);
    const model = selection.model;
    const status = model.describe();
    const { request: generate, prompt } = completionRequest(body, status);
    if (selection.adapters) generate.adapters = selection.adapters;
    const n = choiceCount(body.n, status);
    scope.begin(model.name, body.stream === true, timeoutMs);
    const meta = { id: newId("cmpl"), created: unixNow(), model: selection.label };
    const topLogprobs = completionTopLogprobs(body);
    const echo = body.echo === true ? prompt : "";
    const format = body.stream
      ? (writer: SseWriter) => completionStreamFormat(writer, meta, body.stream_options?.include_usage === true, topLogprobs, echo)
      : undefined;
    const respond = (collected: CollectedChoice[]) => ({
      id: meta.id,
      object: "text_completion",
      created: meta.created,
      model: meta.model,
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices: collected.map((choice, index) => ({
        index,
        text: echo + choice.result.text,
        logprobs: topLogprobs === undefined ? null : completionLogprobs(choice.chunks, topLogprobs, echo.length),
        finish_reason: choice.result.finishReason,
      })),
      usage: usageOf(collected.map((c) => c.result)),
    });
    return answer(model, generate, n, scope, reply, format, respond);
  });

  app.post("/v1/embeddings", async (request, reply) => {
    const scope = scopeOf(request, "openai.embeddings");
    const body = parseRequestBody(embeddingSchema, request, reply, host);
    const model = directory.lookup(body.model);
    const inputs = embeddingInputs(body.input);
    const status = model.describe();
    const width = status.info?.embeddingSize ?? status.summary?.embeddingLength;
    if (body.dimensions != null && width !== undefined && body.dimensions !== width) {
      throw new EdgeError("unsupported", `dimensions: ${model.name} makes ${width}-dimensional embeddings and cannot shorten them; leave dimensions out`, {
        param: "dimensions",
      });
    }
    scope.begin(model.name, false, timeoutMs);
    const result = await model.embed(inputs, scope);
    scope.end({ status: 200, promptTokens: result.promptTokens, queueWaitMs: result.queueWaitMs });
    const base64 = body.encoding_format === "base64";
    return {
      object: "list",
      data: result.vectors.map((vector, index) => ({
        object: "embedding",
        index,
        embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector,
      })),
      model: model.name,
      usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
    };
  });
}

/**
 * The chat completions handler, for /v1/chat/completions and llama-server's
 * /chat/completions alike (llama-server-routes.ts).
 */
export function chatCompletionsRoute(host: DialectHost): (request: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  const timeoutMs = host.requestTimeoutMs;
  const directory = host.directory;
  return async (request, reply) => {
    const scope = scopeOf(request, "openai.chat");
    const body = parseRequestBody(chatCompletionSchema, request, reply, host);
    const selection = selectAdapters(directory, body);
    const model = selection.model;
    const status = model.describe();
    const generate = chatRequest(body, status);
    if (selection.adapters) generate.adapters = selection.adapters;
    const n = choiceCount(body.n, status);
    scope.begin(model.name, body.stream === true, timeoutMs);
    const meta = { id: newId("chatcmpl"), created: unixNow(), model: selection.label };
    const topLogprobs = chatTopLogprobs(body);
    const format = body.stream ? (writer: SseWriter) => chatStreamFormat(writer, meta, body.stream_options?.include_usage === true, topLogprobs) : undefined;
    const respond = (collected: CollectedChoice[]) => ({
      id: meta.id,
      object: "chat.completion",
      created: meta.created,
      model: meta.model,
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices: collected.map((choice, index) => ({
        index,
        message: assistantMessage(choice.result),
        logprobs: topLogprobs === undefined ? null : { content: choice.chunks.flatMap((c) => chatLogprobs(c, topLogprobs)), refusal: null },
        finish_reason: choice.result.finishReason,
      })),
      usage: usageOf(collected.map((c) => c.result)),
    });
    return answer(model, generate, n, scope, reply, format, respond);
  };
}

/**
 * Generates `n` choices and answers with them: streamed in `format` when given
 * (SSE), else the object `respond` makes of the collected choices. One choice
 * takes the single-stream path; several go through a ChoiceSet.
 */
async function answer(
  model: ServedModel,
  generate: GenerateRequest,
  n: number,
  scope: RequestScope,
  reply: FastifyReply,
  format: ((writer: SseWriter) => ChoicesStreamFormat) | undefined,
  respond: (collected: CollectedChoice[]) => unknown,
): Promise<unknown> {
  if (n === 1) {
    const stream = await model.generate(generate, scope);
    setRouteHeaders(reply, stream);
    if (format) {
      const writer = new SseWriter(reply.raw);
      await streamGeneration(reply, scope, stream, writer, singleChoice(format(writer)), openAiDialect);
      return reply;
    }
    const collected = await collectGeneration(scope, stream);
    endCollected(scope, stream, collected);
    return respond([collected]);
  }
  const choices = ChoiceSet.start(model, generate, n, scope);
  let routed = false;
  const onStart = (stream: ServedStream): void => {
    if (routed) return;
    routed = true;
    setRouteHeaders(reply, stream);
  };
  if (format) {
    const writer = new SseWriter(reply.raw);
    await streamChoices(reply, scope, choices, writer, format(writer), openAiDialect, onStart);
    return reply;
  }
  return respond(await collectChoices(scope, choices, onStart));
}

/** An n-choice stream format writing one choice (index 0). */
function singleChoice(format: ChoicesStreamFormat): StreamFormat {
  return {
    chunk: (chunk) => format.chunk(0, chunk),
    finish(result) {
      format.finishChoice(0, result);
      format.finish([result]);
    },
    error: (error) => format.error(error),
  };
}

// --- requests ---------------------------------------------------------------

function unsupported(param: string, message: string): EdgeError {
  return new EdgeError("unsupported", `${param}: ${message}`, { param });
}

/** Fields chat and completions share, checked against the model. */
function samplingRequest(body: ChatCompletionBody | CompletionBody, model: ServedModelStatus, maxTokens: number | null | undefined): GenerateRequest {
  const request = llamaFieldsRequest(body);
  if (maxTokens != null) request.maxTokens = maxTokens;
  if (body.temperature != null) request.temperature = body.temperature;
  if (body.top_p != null) request.topP = body.top_p;
  if (body.frequency_penalty != null) request.frequencyPenalty = body.frequency_penalty;
  if (body.presence_penalty != null) request.presencePenalty = body.presence_penalty;
  const seed = samplerSeed(body.seed);
  if (seed !== undefined) request.seed = seed;
  const stop = stopList(body.stop);
  if (stop) request.stop = stop;
  const bias = body.logit_bias ? logitBiasFor(body.logit_bias, model) : undefined;
  if (bias) request.logitBias = bias;
  const format = responseFormatOf(body.response_format);
  if (format && request.responseFormat) {
    throw new EdgeError("invalid_request", "grammar: send either grammar or a response_format that constrains the output, not both", { param: "grammar" });
  }
  if (format) request.responseFormat = format;
  return request;
}

function responseFormatOf(format: ChatCompletionBody["response_format"]): ResponseFormat | undefined {
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  const { schema, name } = format.json_schema;
  return schema ? { type: "json_schema", schema, name } : { type: "json_object" };
}

function chatRequest(body: ChatCompletionBody, model: ServedModelStatus): GenerateRequest {
  if (body.functions && body.functions.length > 0) throw unsupported("functions", "the legacy functions field is not supported; send tools");
  if (body.function_call != null && body.function_call !== "none" && body.function_call !== "auto") {
    throw unsupported("function_call", "the legacy function_call field is not supported; send tool_choice");
  }
  if (body.modalities && body.modalities.some((m) => m !== "text")) throw unsupported("modalities", "only text output is supported");
  if (body.audio != null) throw unsupported("audio", "audio output is not supported");
  if (body.prediction != null) throw unsupported("prediction", "predicted outputs are not supported");
  if (body.web_search_options != null) throw unsupported("web_search_options", "web search is not supported");
  if (body.top_logprobs != null && !body.logprobs) {
    throw new EdgeError("invalid_request", "top_logprobs: requires logprobs to be true", { param: "top_logprobs" });
  }
  const messages = chatMessages(body.messages);
  const request = { ...samplingRequest(body, model, body.max_completion_tokens ?? body.max_tokens), ...openAiToolRequest(body) };
  request.messages = messages;
  const topLogprobs = chatTopLogprobs(body);
  if (topLogprobs !== undefined) request.logprobs = Math.max(1, topLogprobs);
  return request;
}

/** OpenAI chat messages as the engine's (text parts only; tool calls and results kept). */
export function chatMessages(input: ChatCompletionBody["messages"]): ChatMessage[] {
  return input.map((message, i) => {
    let content = "";
    if (typeof message.content === "string") content = message.content;
    else if (Array.isArray(message.content)) {
      content = message.content
        .map((part, j) => {
          if (part.type !== "text") throw unsupported(`messages[${i}].content[${j}]`, `only text parts are supported, got "${part.type}"`);
          return (part as { text: string }).text;
        })
        .join("\n");
    } else if (message.role !== "assistant") {
      throw new EdgeError("invalid_request", `messages[${i}].content: required for role ${message.role}`, { param: `messages[${i}].content` });
    }
    const mapped: ChatMessage = { role: message.role === "developer" ? "system" : message.role, content };
    if (message.tool_calls && message.tool_calls.length > 0) mapped.toolCalls = engineToolCalls(message.tool_calls);
    if (message.role === "tool" && message.tool_call_id !== undefined) mapped.toolCallId = message.tool_call_id;
    if (message.role === "tool" && message.name !== undefined) mapped.name = message.name;
    return mapped;
  });
}

/** How many alternatives each chat token's logprobs list: top_logprobs with logprobs, or llama-server's n_probs. */
function chatTopLogprobs(body: ChatCompletionBody): number | undefined {
  if (body.logprobs) return body.top_logprobs ?? 0;
  return body.n_probs ? body.n_probs : undefined;
}

/** Completions' logprobs count, or llama-server's n_probs. */
function completionTopLogprobs(body: CompletionBody): number | undefined {
  return body.logprobs ?? (body.n_probs ? body.n_probs : undefined);
}

function completionRequest(body: CompletionBody, model: ServedModelStatus): { request: GenerateRequest; prompt: string } {
  let prompt: string;
  if (typeof body.prompt === "string") prompt = body.prompt;
  else if (body.prompt.length === 1 && typeof body.prompt[0] === "string") prompt = body.prompt[0];
  else if (body.prompt.length > 0 && typeof body.prompt[0] !== "string") throw unsupported("prompt", "token-id prompts are not supported; send text");
  else throw unsupported("prompt", `one prompt per request is supported, got ${body.prompt.length}`);
  if (body.suffix) throw unsupported("suffix", "insertion (suffix) is not supported");
  if (body.best_of != null && body.best_of !== 1) throw unsupported("best_of", `only best_of=1 is supported, got ${body.best_of}`);
  const request = samplingRequest(body, model, body.max_tokens);
  request.prompt = prompt;
  const logprobs = completionTopLogprobs(body);
  if (logprobs !== undefined) request.logprobs = Math.max(1, logprobs);
  return { request, prompt };
}

function embeddingInputs(input: string | string[] | number[] | number[][]): string[] {
  if (typeof input === "string") input = [input];
  if (input.length === 0) throw new EdgeError("invalid_request", "input: must not be empty", { param: "input" });
  if (typeof input[0] !== "string") throw unsupported("input", "token-id inputs are not supported; send text");
  checkEmbeddingCount(input.length, "input");
  const texts = input as string[];
  const empty = texts.findIndex((t) => t.length === 0);
  if (empty !== -1) throw new EdgeError("invalid_request", `input[${empty}]: must not be an empty string`, { param: "input" });
  return texts;
}

// --- responses ----------------------------------------------------------------

interface ResponseMeta {
  id: string;
  created: number;
  model: string;
}

function newId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString("base64url")}`;
}

function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

function modelObject(model: ServedModelStatus): unknown {
  return {
    id: model.name,
    object: "model",
    created: Math.floor((model.modifiedAt?.getTime() ?? Date.now()) / 1000),
    owned_by: "edgelm",
  };
}

function assistantMessage(result: GenerationResult): Record<string, unknown> {
  if (!result.toolCalls) return { role: "assistant", content: result.text, refusal: null };
  return { role: "assistant", content: result.text.trim().length > 0 ? result.text : null, refusal: null, tool_calls: openAiToolCalls(result.toolCalls) };
}

/** Usage of one or more choices: the prompt counted once, the completions summed (as OpenAI counts `n`). */
function usageOf(results: GenerationResult[]): unknown {
  const t = summedTimings(results);
  return {
    prompt_tokens: t.promptTokens,
    completion_tokens: t.completionTokens,
    total_tokens: t.promptTokens + t.completionTokens,
    prompt_tokens_details: { cached_tokens: t.cachedPromptTokens },
  };
}

function utf8Bytes(text: string): number[] {
  return [...Buffer.from(text, "utf8")];
}

function chatLogprobs(chunk: GeneratedChunk, topN: number): unknown[] {
  return (chunk.logprobs ?? []).map((entry) => ({
    token: entry.token,
    logprob: entry.logprob,
    bytes: utf8Bytes(entry.token),
    top_logprobs: entry.top.slice(0, topN).map((alt: TokenLogprob) => ({ token: alt.token, logprob: alt.logprob, bytes: utf8Bytes(alt.token) })),
  }));
}

function completionLogprobs(chunks: GeneratedChunk[], topN: number, offset: number): unknown {
  const tokens: string[] = [];
  const tokenLogprobs: number[] = [];
  const top: Array<Record<string, number>> = [];
  const textOffset: number[] = [];
  let at = offset;
  for (const chunk of chunks) {
    for (const entry of chunk.logprobs ?? []) {
      tokens.push(entry.token);
      tokenLogprobs.push(entry.logprob);
      top.push(Object.fromEntries(entry.top.slice(0, topN).map((alt) => [alt.token, alt.logprob])));
      textOffset.push(at);
      at += entry.token.length;
    }
  }
  return { tokens, token_logprobs: tokenLogprobs, top_logprobs: top, text_offset: textOffset };
}

function chatStreamFormat(writer: SseWriter, meta: ResponseMeta, includeUsage: boolean, topLogprobs: number | undefined): ChoicesStreamFormat {
  const frame = (choices: unknown[]): Record<string, unknown> => ({
    id: meta.id,
    object: "chat.completion.chunk",
    created: meta.created,
    model: meta.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices,
    ...(includeUsage ? { usage: null } : {}),
  });
  /** One choice's frames: its first delta names the role; plain text frames are serialized once (this runs for every token). */
  const choiceFrames = (index: number) => {
    let roleSent = false;
    const delta = (content: string): Record<string, unknown> => {
      const value = roleSent ? { content } : { role: "assistant", content };
      roleSent = true;
      return value;
    };
    const textFrame = jsonTemplate((content) => frame([{ index, delta: { content }, logprobs: null, finish_reason: null }]));
    return {
      chunk(chunk: GeneratedChunk): void {
        const withLogprobs = topLogprobs !== undefined && chunk.logprobs !== undefined;
        if (chunk.text.length === 0 && !withLogprobs) return;
        if (roleSent && !withLogprobs) {
          writer.json(textFrame(chunk.text));
          return;
        }
        writer.data(
          frame([
            {
              index,
              delta: delta(chunk.text),
              logprobs: withLogprobs ? { content: chatLogprobs(chunk, topLogprobs), refusal: null } : null,
              finish_reason: null,
            },
          ]),
        );
      },
      finish(result: GenerationResult): void {
        if (!roleSent) writer.data(frame([{ index, delta: delta(""), logprobs: null, finish_reason: null }]));
        for (const call of toolCallDeltas(result.toolCalls ?? [])) writer.data(frame([{ index, delta: call, logprobs: null, finish_reason: null }]));
        writer.data(frame([{ index, delta: {}, logprobs: null, finish_reason: result.finishReason }]));
      },
    };
  };
  const choices: Array<ReturnType<typeof choiceFrames>> = [];
  const choiceAt = (index: number) => (choices[index] ??= choiceFrames(index));
  return {
    chunk: (index, chunk) => choiceAt(index).chunk(chunk),
    finishChoice: (index, result) => choiceAt(index).finish(result),
    finish(results) {
      if (includeUsage) writer.data({ ...frame([]), usage: usageOf(results) });
      writer.done();
    },
    error(error) {
      writer.error(errorBody(error));
    },
  };
}

function completionStreamFormat(
  writer: SseWriter,
  meta: ResponseMeta,
  includeUsage: boolean,
  topLogprobs: number | undefined,
  echo: string,
): ChoicesStreamFormat {
  const frame = (index: number, text: string, logprobs: unknown, finishReason: string | null): Record<string, unknown> => ({
    id: meta.id,
    object: "text_completion",
    created: meta.created,
    model: meta.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [{ index, text, logprobs, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  /** One choice's frames: the echoed prompt first, then its text (plain text frames serialized once). */
  const choiceFrames = (index: number) => {
    let offset = echo.length;
    let pendingEcho = echo;
    const textFrame = jsonTemplate((text) => frame(index, text, null, null));
    const flushEcho = (): void => {
      if (pendingEcho.length > 0) writer.data(frame(index, pendingEcho, null, null));
      pendingEcho = "";
    };
    return {
      chunk(chunk: GeneratedChunk): void {
        const withLogprobs = topLogprobs !== undefined && chunk.logprobs !== undefined;
        if (chunk.text.length === 0 && !withLogprobs) return;
        flushEcho();
        if (!withLogprobs) {
          offset += chunk.text.length;
          writer.json(textFrame(chunk.text));
          return;
        }
        const logprobs = completionLogprobs([chunk], topLogprobs, offset);
        offset += chunk.text.length;
        writer.data(frame(index, chunk.text, logprobs, null));
      },
      finish(result: GenerationResult): void {
        flushEcho();
        writer.data(frame(index, "", null, result.finishReason));
      },
    };
  };
  const choices: Array<ReturnType<typeof choiceFrames>> = [];
  const choiceAt = (index: number) => (choices[index] ??= choiceFrames(index));
  return {
    chunk: (index, chunk) => choiceAt(index).chunk(chunk),
    finishChoice: (index, result) => choiceAt(index).finish(result),
    finish(results) {
      if (includeUsage) writer.data({ ...frame(0, "", null, null), choices: [], usage: usageOf(results) });
      writer.done();
    },
    error(error) {
      writer.error(errorBody(error));
    },
  };
}
