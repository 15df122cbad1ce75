/**
 * The OpenAI dialect: /v1/models, /v1/chat/completions, /v1/completions,
 * /v1/embeddings. Maps requests to the engine's GenerateRequest and results back
 * to OpenAI's objects (SSE chunks ending in `data: [DONE]`); errors take
 * OpenAI's shape `{"error": {message, type, param, code}}` in exactly one place
 * (errorBody), for HTTP responses and in-stream error events alike.
 */
import { selectAdapters } from "./adapter-selection.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { GenerateRequest } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import type { ServedModel, ServedStream } from "../scheduler/served-model.js";
import type { RequestScope } from "../scheduler/request-scope.js";
import type { ApiDialect } from "./api-dialect.js";
import { scopeOf } from "./app.js";
import type { DialectHost } from "./app-host.js";
import { ChoiceSet, choiceCount, collectChoices, streamChoices, type ChoicesStreamFormat, type CollectedChoice } from "./choices.js";
import { collectGeneration, endCollected, setRouteHeaders, streamGeneration, type StreamFormat } from "./generation-response.js";
import { chatCompletionSchema, completionSchema, embeddingSchema } from "./openai-schemas.js";
import { parseRequestBody } from "./request-validation.js";
import { registerResponses } from "./responses.js";
import { SseWriter } from "./sse-writer.js";
import {
  assistantMessage,
  chatLogprobs,
  chatStreamFormat,
  completionLogprobs,
  completionStreamFormat,
  errorBody,
  SYSTEM_FINGERPRINT,
  modelObject,
  newId,
  unixNow,
  usageOf,
} from "./openai-objects.js";
import { chatRequest, chatTopLogprobs, completionRequest, completionTopLogprobs, embeddingInputs } from "./openai-requests.js";


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
