/**
 * The llama-server dialect: llama.cpp server's own routes on the gateway, with
 * its field names and answer shapes — /completion (and /completions),
 * /infill, /tokenize, /detokenize, /apply-template, /props, /slots,
 * /embedding (and /embeddings), /v1/health, and /chat/completions (OpenAI's
 * chat without /v1). The same auth, admission and metrics as every route.
 * Errors take llama-server's shape `{"error": {code, message, type}}`.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ChatMessage } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import type { ServedModel } from "../scheduler/served-model.js";
import { EDGELM_VERSION } from "../version.js";
import type { ApiDialect } from "./api-dialect.js";
import { readyToServe, scopeOf } from "./app.js";
import type { DialectHost, ModelDirectory } from "./app-host.js";
import { collectGeneration, endCollected, setRouteHeaders, streamGeneration } from "./generation-response.js";
import { checkTokenIds, completionAnswer, completionStreamFormat, nativeCompletionRequest, promptTokenIds, type NativeMeta } from "./llama-server-completion.js";
import {
  llamaApplyTemplateSchema,
  llamaCompletionSchema,
  llamaDetokenizeSchema,
  llamaEmbeddingSchema,
  llamaInfillSchema,
  llamaTokenizeSchema,
  type LlamaInfillBody,
} from "./llama-server-schemas.js";
import { chatCompletionsRoute } from "./openai.js";
import { chatMessages } from "./openai-requests.js";
import { checkEmbeddingCount } from "./request-fields.js";
import { parseRequestBody } from "./request-validation.js";
import { SseWriter } from "./sse-writer.js";

function errorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 404) return "not_found_error";
  if (status === 501) return "not_supported_error";
  if (status === 503 || status === 429) return "unavailable_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

function errorBody(error: EdgeError): unknown {
  return { error: { code: error.status, message: error.message, type: errorType(error.status) } };
}

export const llamaServerDialect: ApiDialect = {
  name: "llama-server",
  prefixes: ["/completion", "/infill", "/tokenize", "/detokenize", "/apply-template", "/props", "/slots", "/embedding", "/chat/completions", "/v1/health"],
  register,
  errorBody,
};

/** The named model, or the first one served (llama-server serves one model; its clients name none). */
function modelFor(directory: ModelDirectory, name: string | undefined): ServedModel {
  if (name) return directory.lookup(name);
  const first = directory.models()[0];
  if (!first) throw new EdgeError("model_not_found", "no model is served here");
  return directory.lookup(first.name);
}

function queryModel(request: FastifyRequest): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.model;
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** The sampling defaults llama-server lists in /props and /slots, as this engine applies them. */
function defaultParams(): Record<string, unknown> {
  return { n_predict: -1, seed: 4294967295, temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, typical_p: 1, repeat_last_n: 64, repeat_penalty: 1, presence_penalty: 0, frequency_penalty: 0, mirostat: 0, stop: [], n_probs: 0, grammar: "" };
}

function register(app: FastifyInstance, host: DialectHost): void {
  const timeoutMs = host.requestTimeoutMs;
  const directory = host.directory;

  app.post("/chat/completions", chatCompletionsRoute(host));

  app.get("/v1/health", async (request, reply) => {
    const scope = scopeOf(request, "llama.health");
    const models = directory.models();
    const ready = models.length > 0 && models.every((m) => readyToServe(m.state));
    scope.end({ status: ready ? 200 : 503 });
    if (ready) return { status: "ok" };
    return reply.code(503).send(errorBody(new EdgeError("model_not_ready", "Loading model")));
  });

  for (const path of ["/completion", "/completions", "/infill"]) {
    const infill = path === "/infill";
    app.post(path, async (request, reply) => {
      const scope = scopeOf(request, infill ? "llama.infill" : "llama.completion");
      const body = infill ? parseRequestBody(llamaInfillSchema, request, reply, host) : parseRequestBody(llamaCompletionSchema, request, reply, host);
      const model = modelFor(directory, body.model);
      const status = model.describe();
      const { request: generate, promptText } = infill
        ? await infillRequest(body as LlamaInfillBody, model)
        : await nativeCompletionRequest(body as typeof body & { prompt: NonNullable<typeof body.prompt> }, model, status);
      scope.begin(model.name, body.stream === true, timeoutMs);
      const stream = await model.generate(generate, scope);
      setRouteHeaders(reply, stream);
      const contextSize = generate.contextSize ?? status.info?.contextSize ?? status.summary?.contextLength ?? 0;
      const meta: NativeMeta = { model: model.name, promptText, request: generate, contextSize, returnTokens: body.return_tokens === true };
      if (body.stream) {
        const writer = new SseWriter(reply.raw);
        await streamGeneration(reply, scope, stream, writer, completionStreamFormat(writer, meta, errorBody), llamaServerDialect);
        return reply;
      }
      const collected = await collectGeneration(scope, stream, true);
      endCollected(scope, stream, collected);
      return completionAnswer(collected.result, collected.chunks, meta);
    });
  }

  app.post("/tokenize", async (request, reply) => {
    const scope = scopeOf(request, "llama.tokenize");
    const body = parseRequestBody(llamaTokenizeSchema, request, reply, host);
    const model = modelFor(directory, body.model);
    const tokens = await model.tokenize(body.content, { addBos: body.add_special === true });
    const answer = body.with_pieces ? await tokenPieces(model, tokens) : tokens;
    scope.end({ status: 200 });
    return { tokens: answer };
  });

  app.post("/detokenize", async (request, reply) => {
    const scope = scopeOf(request, "llama.detokenize");
    const body = parseRequestBody(llamaDetokenizeSchema, request, reply, host);
    const model = modelFor(directory, body.model);
    checkTokenIds(body.tokens, model.describe(), "tokens");
    const content = await model.detokenize(body.tokens);
    scope.end({ status: 200 });
    return { content };
  });

  app.post("/apply-template", async (request, reply) => {
    const scope = scopeOf(request, "llama.apply-template");
    const body = parseRequestBody(llamaApplyTemplateSchema, request, reply, host);
    const model = modelFor(directory, body.model);
    const prompt = await model.renderChat(chatMessages(body.messages) as ChatMessage[]);
    scope.end({ status: 200 });
    return { prompt };
  });

  app.get("/props", async (request) => {
    const scope = scopeOf(request, "llama.props");
    const status = modelFor(directory, queryModel(request)).describe();
    const contextSize = status.info?.contextSize ?? status.summary?.contextLength ?? 0;
    scope.end({ status: 200 });
    return {
      default_generation_settings: { id: 0, id_task: -1, n_ctx: contextSize, speculative: false, is_processing: false, params: defaultParams() },
      total_slots: status.queue.capacity || status.parallel,
      model_alias: status.name,
      model_path: status.path,
      chat_template: status.summary?.chatTemplate ?? "",
      chat_template_caps: {},
      modalities: { vision: false, audio: false },
      build_info: `edgelm-${EDGELM_VERSION}`,
      is_sleeping: false,
    };
  });

  app.get("/slots", async (request, reply) => {
    const scope = scopeOf(request, "llama.slots");
    const status = modelFor(directory, queryModel(request)).describe();
    const contextSize = status.info?.contextSize ?? status.summary?.contextLength ?? 0;
    const slots: unknown[] = [];
    for (const runner of status.runners) {
      for (let i = 0; i < runner.parallel; i++) {
        slots.push({ id: slots.length, id_task: -1, n_ctx: contextSize, speculative: false, is_processing: i < runner.inFlight, params: defaultParams() });
      }
    }
    const failOnNone = (request.query as Record<string, unknown> | undefined)?.fail_on_no_slot;
    if ((failOnNone === "1" || failOnNone === "true") && !slots.some((s) => !(s as { is_processing: boolean }).is_processing)) {
      throw new EdgeError("model_not_ready", "no slot available", { retryAfter: 1 });
    }
    scope.end({ status: 200 });
    return reply.send(slots);
  });

  for (const path of ["/embedding", "/embeddings"]) {
    app.post(path, async (request, reply) => {
      const scope = scopeOf(request, "llama.embedding");
      const body = parseRequestBody(llamaEmbeddingSchema, request, reply, host);
      const given = body.content ?? body.input;
      const param = body.content !== undefined ? "content" : "input";
      if (given === undefined) throw new EdgeError("invalid_request", "content: required (the text to embed)", { param: "content" });
      const inputs = typeof given === "string" ? [given] : given;
      checkEmbeddingCount(inputs.length, param);
      if (inputs.length === 0 || inputs.some((t) => t.length === 0)) throw new EdgeError("invalid_request", `${param}: must hold non-empty text`, { param });
      if (body.embd_normalize != null && body.embd_normalize !== 2) {
        throw new EdgeError("unsupported", "embd_normalize: embeddings are L2-normalised (2); other norms are not offered", { param: "embd_normalize" });
      }
      const model = modelFor(directory, body.model);
      scope.begin(model.name, false, timeoutMs);
      const result = await model.embed(inputs, scope);
      scope.end({ status: 200, promptTokens: result.promptTokens, queueWaitMs: result.queueWaitMs });
      return reply.send(result.vectors.map((vector, index) => ({ index, embedding: [vector] })));
    });
  }
}

/**
 * Each token's own text, leading space included: a tokenizer drops the space
 * of a text's first token, so each is detokenized after an anchor token whose
 * text is then cut off.
 */
async function tokenPieces(model: ServedModel, tokens: number[]): Promise<Array<{ id: number; piece: string }>> {
  const anchor = (await model.tokenize("a", { addBos: false }))[0];
  if (anchor === undefined) return Promise.all(tokens.map(async (id) => ({ id, piece: await model.detokenize([id]) })));
  const anchorText = await model.detokenize([anchor]);
  return Promise.all(tokens.map(async (id) => ({ id, piece: (await model.detokenize([anchor, id])).slice(anchorText.length) })));
}

/**
 * /infill: the model's fill-in-the-middle tokens around the prefix and suffix
 * (extra context first), then `prompt` — as llama-server builds it when the
 * model has no repository tokens. A model without FIM tokens is a 400.
 */
async function infillRequest(body: LlamaInfillBody, model: ServedModel): Promise<Awaited<ReturnType<typeof nativeCompletionRequest>>> {
  const status = model.describe();
  const fim = status.summary?.fimTokens;
  if (!fim) {
    throw new EdgeError("unsupported", `${model.name} has no fill-in-the-middle tokens (tokenizer.ggml.fim_pre/suf/mid_token_id); /infill needs a code model trained for it`);
  }
  const extra = (body.input_extra ?? []).map((chunk) => (chunk.filename ? `${chunk.filename}\n${chunk.text}` : chunk.text)).join("");
  const text = (piece: string): Promise<number[]> => (piece.length > 0 ? model.tokenize(piece, { addBos: false }) : Promise.resolve([]));
  const prompt = typeof body.prompt === "string" || body.prompt === undefined ? [body.prompt ?? ""] : body.prompt;
  const tokens = [
    ...(await text(extra)),
    fim.prefix,
    ...(await text(body.input_prefix)),
    fim.suffix,
    ...(await text(body.input_suffix)),
    fim.middle,
    ...(await promptTokenIds(prompt.filter((p) => p !== ""), model, false)),
  ];
  return nativeCompletionRequest({ ...body, prompt: tokens }, model, status);
}
