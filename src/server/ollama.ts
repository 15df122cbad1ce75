/**
 * The Ollama dialect: /api/tags, /api/ps, /api/show, /api/generate, /api/chat
 * (NDJSON streams by default, one object with stream:false), /api/embed,
 * /api/embeddings, /api/version. Ollama's option names map to the engine's
 * GenerateRequest; durations go back in nanoseconds. Errors are Ollama's
 * `{"error": "..."}`, made in exactly one place (errorBody).
 */
import type { FastifyInstance } from "fastify";
import type { GeneratedChunk, GenerateRequest, GenerationResult, ResponseFormat } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import type { ServedModel, ServedModelStatus, ServedStream } from "../scheduler/served-model.js";
import { EDGELM_VERSION } from "../version.js";
import type { ApiDialect } from "./api-dialect.js";
import { scopeOf } from "./app.js";
import type { DialectHost, ModelDirectory } from "./app-host.js";
import { collectGeneration, endCollected, setRouteHeaders, streamGeneration, type StreamFormat } from "./generation-response.js";
import { NdjsonWriter } from "./ndjson-writer.js";
import { generateTruncating } from "./ollama-truncation.js";
import {
  ollamaChatSchema,
  ollamaEmbeddingsSchema,
  ollamaEmbedSchema,
  ollamaGenerateSchema,
  ollamaShowSchema,
  type OllamaChatBody,
  type OllamaGenerateBody,
  type OllamaOptions,
} from "./ollama-schemas.js";
import { ollamaChatMessage, ollamaToolCalls, ollamaTools } from "./ollama-tools.js";
import { checkEmbeddingCount, nanoseconds, samplerSeed, stopList } from "./request-fields.js";
import type { RequestScope } from "../scheduler/request-scope.js";
import { parseRequestBody } from "./request-validation.js";
import { parseKeepAlive } from "../scheduler/keep-alive.js";
import { registerModelRoutes } from "./ollama-models.js";
import { applyTemplate, optionsWithDefaults, withDefaultSystem } from "./ollama-settings.js";

/** What /api/ps says of a model that stays loaded (no keep-alive timer): Ollama clients read it as "kept loaded". */
const NEVER_EXPIRES = "2100-01-01T00:00:00Z";

function errorBody(error: EdgeError): unknown {
  return { error: error.message };
}

/**
 * The Ollama server version /api/version answers. Clients compare it (e.g.
 * `>= 0.5.0` before sending a JSON schema as `format`), so it must be a real
 * Ollama version whose API this dialect covers: 0.6.4 has everything clients
 * gate on that edgelm implements — tools (0.3), /api/embed (0.3), structured
 * outputs (0.5) — and is older than `think` (0.9), which edgelm refuses, so a
 * client that checks the version does not expect thinking. (It is also the
 * version of the `ollama` npm client the tests use.) edgelm's own version goes
 * in `edgelm_version`.
 */
export const OLLAMA_API_VERSION = "0.6.4";

export const ollamaDialect: ApiDialect = {
  name: "ollama",
  prefixes: ["/api/"],
  register,
  errorBody,
};

function register(app: FastifyInstance, host: DialectHost): void {
  const timeoutMs = host.requestTimeoutMs;
  const directory = host.directory;

  app.get("/", async (request, reply) => {
    scopeOf(request, "ollama.root").end({ status: 200 });
    return reply.type("text/plain; charset=utf-8").send("edgelm is running (OpenAI- and Ollama-compatible API)");
  });

  registerModelRoutes(app, host, ollamaDialect);

  app.get("/api/version", async (request) => {
    scopeOf(request, "ollama.version").end({ status: 200 });
    return { version: OLLAMA_API_VERSION, edgelm_version: EDGELM_VERSION };
  });

  app.get("/api/tags", async (request) => {
    const scope = scopeOf(request, "ollama.tags");
    const models = directory.models().map((m) => ({
      name: ollamaName(m.name),
      model: ollamaName(m.name),
      modified_at: (m.modifiedAt ?? new Date()).toISOString(),
      size: m.fileSize,
      digest: m.sha256 ?? "",
      details: details(m),
    }));
    scope.end({ status: 200 });
    return { models };
  });

  app.get("/api/ps", async (request) => {
    const scope = scopeOf(request, "ollama.ps");
    const models = directory
      .models()
      .filter((m) => m.runners.length > 0)
      .map((m) => ({
        name: ollamaName(m.name),
        model: ollamaName(m.name),
        size: m.fileSize,
        digest: m.sha256 ?? "",
        details: details(m),
        expires_at: m.expiresAt ? m.expiresAt.toISOString() : NEVER_EXPIRES,
        size_vram: 0,
        context_length: m.info?.contextSize ?? 0,
        // edgelm's own facts: which backend, which runners, whether the file's hash was verified and what vouches for it.
        edgelm: {
          state: m.state,
          backend: m.runners[0]?.backend ?? "",
          parallel: m.parallel,
          hash_verified: m.hashVerified,
          trust: m.trust?.status ?? "unknown",
          runners: m.runners.map((r) => ({ id: r.id, pid: r.pid, state: r.state, in_flight: r.inFlight, draining: r.draining })),
          ...(m.rollout ? { rollout: { digest: m.rollout.digest, version: m.rollout.version, state: m.rollout.state, follow: m.rollout.follow } } : {}),
        },
      }));
    scope.end({ status: 200 });
    return { models };
  });

  app.post("/api/show", async (request, reply) => {
    const scope = scopeOf(request, "ollama.show");
    const body = parseRequestBody(ollamaShowSchema, request, reply, host);
    const name = body.model ?? body.name;
    if (!name) throw new EdgeError("invalid_request", "model: required", { param: "model" });
    const status = directory.lookup(name).describe();
    scope.end({ status: 200 });
    return showResponse(status);
  });

  for (const kind of ["generate", "chat"] as const) {
    app.post(`/api/${kind}`, async (request, reply) => {
      const scope = scopeOf(request, `ollama.${kind}`);
      const body = kind === "chat" ? parseRequestBody(ollamaChatSchema, request, reply, host) : parseRequestBody(ollamaGenerateSchema, request, reply, host);
      const model = directory.lookup(body.model);
      const status = model.describe();
      const settings = status.settings;
      const keepAlive = keepAliveOf(body.keep_alive);
      const withDefaults = { ...body, options: optionsWithDefaults(body.options, settings) };
      const generate = kind === "chat" ? chatRequest(withDefaults as OllamaChatBody, status) : generateRequest(withDefaults as OllamaGenerateBody, status);
      if (generate) {
        const g = body as OllamaGenerateBody;
        applyTemplate(generate, settings, kind === "generate" && g.prompt ? { prompt: g.prompt, system: g.system ?? settings?.system, raw: g.raw === true } : undefined);
        withDefaultSystem(generate, settings);
      }
      model.setKeepAlive?.(keepAlive);
      scope.begin(model.name, body.stream !== false, timeoutMs);
      if (!generate) return loadResponse(scope, body.model, model, directory, kind === "chat", keepAlive === 0);
      // Ollama cuts a prompt longer than the context (truncate: false keeps the error).
      const stream = await generateTruncating(model, generate, scope, body.truncate !== false);
      setRouteHeaders(reply, stream);
      if (body.stream !== false) {
        const writer = new NdjsonWriter(reply.raw);
        const format = ndjsonFormat(writer, body.model, kind, scope, stream, body.logprobs === true, body.top_logprobs);
        await streamGeneration(reply, scope, stream, writer, format, ollamaDialect);
        return reply;
      }
      const collected = await collectGeneration(scope, stream);
      endCollected(scope, stream, collected);
      return {
        model: body.model,
        created_at: new Date().toISOString(),
        ...(kind === "chat" ? { message: assistantMessage(collected.result.text, collected.result) } : { response: collected.result.text }),
        done: true,
        ...finalStats(collected.result, scope, stream),
        ...(body.logprobs ? { logprobs: collected.chunks.flatMap((c) => logprobEntries(c, body.top_logprobs ?? 0)) } : {}),
      };
    });
  }

  app.post("/api/embed", async (request, reply) => {
    const scope = scopeOf(request, "ollama.embed");
    const body = parseRequestBody(ollamaEmbedSchema, request, reply, host);
    const model = directory.lookup(body.model);
    model.setKeepAlive?.(keepAliveOf(body.keep_alive));
    const inputs = typeof body.input === "string" ? (body.input.length > 0 ? [body.input] : []) : body.input;
    checkEmbeddingCount(inputs.length, "input");
    const empty = inputs.findIndex((t) => t.length === 0);
    if (empty !== -1) throw new EdgeError("invalid_request", `input[${empty}]: must not be an empty string`, { param: "input" });
    const status = model.describe();
    const width = status.info?.embeddingSize ?? status.summary?.embeddingLength;
    if (body.dimensions !== undefined && width !== undefined && body.dimensions !== width) {
      throw new EdgeError("unsupported", `dimensions: ${model.name} makes ${width}-dimensional embeddings and cannot shorten them`, { param: "dimensions" });
    }
    scope.begin(model.name, false, timeoutMs);
    if (inputs.length === 0) {
      scope.end({ status: 200 });
      return { model: body.model, embeddings: [], total_duration: 0, load_duration: 0, prompt_eval_count: 0 };
    }
    const result = await model.embed(inputs, scope, { truncate: body.truncate ?? true });
    scope.end({ status: 200, promptTokens: result.promptTokens, queueWaitMs: result.queueWaitMs });
    return {
      model: body.model,
      embeddings: result.vectors,
      total_duration: nanoseconds(performance.now() - scope.receivedAt),
      load_duration: 0,
      prompt_eval_count: result.promptTokens,
    };
  });

  app.post("/api/embeddings", async (request, reply) => {
    const scope = scopeOf(request, "ollama.embeddings");
    const body = parseRequestBody(ollamaEmbeddingsSchema, request, reply, host);
    const model = directory.lookup(body.model);
    scope.begin(model.name, false, timeoutMs);
    if (body.prompt.length === 0) {
      scope.end({ status: 200 });
      return { embedding: [] };
    }
    const result = await model.embed([body.prompt], scope, { truncate: true });
    scope.end({ status: 200, promptTokens: result.promptTokens, queueWaitMs: result.queueWaitMs });
    return { embedding: result.vectors[0] };
  });
}

// --- requests ---------------------------------------------------------------

/** keep_alive in ms (null = forever, undefined = the model's default); a malformed one is a 400. */
function keepAliveOf(value: string | number | undefined): number | null | undefined {
  const ms = parseKeepAlive(value);
  if (Number.isNaN(ms)) throw new EdgeError("invalid_request", `keep_alive: expected seconds or a duration such as "5m", "90s", "1h" (negative = forever), got ${JSON.stringify(value)}`, { param: "keep_alive" });
  return ms;
}

function unsupported(param: string, message: string): EdgeError {
  return new EdgeError("unsupported", `${param}: ${message}`, { param });
}

/** Ollama's options and format as engine settings. */
function optionsRequest(options: OllamaOptions | undefined, format: OllamaChatBody["format"], model: ServedModelStatus): GenerateRequest {
  const request: GenerateRequest = {};
  const o = options ?? {};
  const served = model.info?.contextSize ?? model.summary?.contextLength;
  if (o.num_predict !== undefined) request.maxTokens = o.num_predict;
  // num_ctx is a load-time setting in Ollama; here it can narrow this request's context, not widen the served one.
  if (o.num_ctx !== undefined && (served === undefined || o.num_ctx < served)) request.contextSize = o.num_ctx;
  if (o.temperature !== undefined) request.temperature = o.temperature;
  if (o.top_k !== undefined) request.topK = o.top_k;
  if (o.top_p !== undefined) request.topP = o.top_p;
  if (o.min_p !== undefined) request.minP = o.min_p;
  if (o.typical_p !== undefined) request.typicalP = o.typical_p;
  if (o.repeat_penalty !== undefined) request.repeatPenalty = o.repeat_penalty;
  if (o.repeat_last_n !== undefined) request.repeatLastN = o.repeat_last_n === -1 ? (request.contextSize ?? served ?? 64) : o.repeat_last_n;
  if (o.presence_penalty !== undefined) request.presencePenalty = o.presence_penalty;
  if (o.frequency_penalty !== undefined) request.frequencyPenalty = o.frequency_penalty;
  const seed = samplerSeed(o.seed);
  if (seed !== undefined) request.seed = seed;
  const stop = stopList(o.stop);
  if (stop) request.stop = stop;
  const responseFormat = formatOf(format);
  if (responseFormat) request.responseFormat = responseFormat;
  return request;
}

function formatOf(format: OllamaChatBody["format"]): ResponseFormat | undefined {
  if (format === undefined || format === "") return undefined;
  if (format === "json") return { type: "json_object" };
  return { type: "json_schema", schema: format };
}

function checkCommon(body: { think?: boolean | string | undefined; top_logprobs?: number | undefined; logprobs?: boolean | undefined }): void {
  if (body.think !== undefined && body.think !== false) throw unsupported("think", "this model does not support thinking");
  if (body.top_logprobs !== undefined && body.top_logprobs > 0 && !body.logprobs) {
    throw new EdgeError("invalid_request", "top_logprobs: requires logprobs to be true", { param: "top_logprobs" });
  }
}

/** The engine request for /api/generate, or undefined for a load-only request (no prompt). */
function generateRequest(body: OllamaGenerateBody, model: ServedModelStatus): GenerateRequest | undefined {
  checkCommon(body);
  if (body.images && body.images.length > 0) throw unsupported("images", "this model does not support images");
  if (body.suffix) throw unsupported("suffix", "this model does not support insertion (suffix)");
  if (body.template) throw unsupported("template", "custom prompt templates are not supported; send raw:true with a formatted prompt");
  if (body.context && body.context.length > 0) throw unsupported("context", "the deprecated context field is not supported; use /api/chat for conversations");
  if (!body.prompt) return undefined;
  const request = optionsRequest(body.options, body.format, model);
  const templated = model.summary?.chatTemplate !== undefined && body.raw !== true;
  if (templated) {
    request.messages = [...(body.system ? [{ role: "system" as const, content: body.system }] : []), { role: "user" as const, content: body.prompt }];
  } else {
    request.prompt = body.prompt;
  }
  if (body.logprobs) request.logprobs = Math.max(1, body.top_logprobs ?? 0);
  return request;
}

function chatRequest(body: OllamaChatBody, model: ServedModelStatus): GenerateRequest | undefined {
  checkCommon(body);
  const messages = body.messages ?? [];
  messages.forEach((m, i) => {
    if (m.images && m.images.length > 0) throw unsupported(`messages[${i}].images`, "this model does not support images");
  });
  if (messages.length === 0) return undefined;
  const request = optionsRequest(body.options, body.format, model);
  request.messages = messages.map(ollamaChatMessage);
  if (body.tools && body.tools.length > 0) request.tools = ollamaTools(body.tools);
  if (body.logprobs) request.logprobs = Math.max(1, body.top_logprobs ?? 0);
  return request;
}

// --- responses ----------------------------------------------------------------

/** Ollama names carry a tag; a served name without one is `name:latest`. */
function ollamaName(name: string): string {
  return name.includes(":") ? name : `${name}:latest`;
}

/** Parameter counts the way Ollama prints them: 8.0B, 134.52M, 292.8K. */
function parameterSize(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(1)}B`;
  if (count >= 1e6) return `${(count / 1e6).toFixed(2)}M`;
  if (count >= 1e3) return `${(count / 1e3).toFixed(1)}K`;
  return String(count);
}

function details(model: ServedModelStatus): Record<string, unknown> {
  const family = model.summary?.architecture ?? "unknown";
  return {
    parent_model: "",
    format: "gguf",
    family,
    families: [family],
    parameter_size: parameterSize(model.summary?.parameterCount ?? 0),
    quantization_level: model.summary?.predominantType ?? "unknown",
  };
}

/** The Modelfile, parameters, template and system prompt /api/show reports, with the model's own settings. */
function modelfileFacts(model: ServedModelStatus, contextSize: number): Record<string, string> {
  const settings = model.settings ?? {};
  const parameters: Array<[string, unknown]> = [["num_ctx", contextSize]];
  for (const [key, value] of Object.entries(settings.parameters ?? {})) {
    for (const one of Array.isArray(value) ? value : [value]) parameters.push([key, one]);
  }
  const quote = (text: string): string => `"""${text}"""`;
  const lines = [
    "# Modelfile generated by edgelm",
    `FROM ${model.path}`,
    ...(settings.template ? [`TEMPLATE ${quote(settings.template)}`] : []),
    ...(settings.system ? [`SYSTEM ${quote(settings.system)}`] : []),
    ...parameters.map(([k, v]) => `PARAMETER ${k} ${typeof v === "string" ? JSON.stringify(v) : String(v)}`),
  ];
  return {
    modelfile: `${lines.join("\n")}\n`,
    parameters: parameters.map(([k, v]) => `${k.padEnd(30)} ${typeof v === "string" ? JSON.stringify(v) : String(v)}`).join("\n"),
    template: settings.template ?? model.summary?.chatTemplate ?? "{{ .Prompt }}",
    system: settings.system ?? "",
  };
}

function showResponse(model: ServedModelStatus): Record<string, unknown> {
  const s = model.summary;
  const arch = s?.architecture ?? "unknown";
  const contextSize = model.info?.contextSize ?? s?.contextLength ?? 0;
  const modelInfo: Record<string, unknown> = {
    "general.architecture": arch,
    "general.parameter_count": s?.parameterCount ?? 0,
    ...(s?.fileType !== undefined ? { "general.file_type": s.fileType } : {}),
  };
  const archFacts: Record<string, number | undefined> = {
    context_length: s?.contextLength,
    embedding_length: s?.embeddingLength,
    block_count: s?.blockCount,
    "attention.head_count": s?.headCount,
    "attention.head_count_kv": s?.headCountKv,
    feed_forward_length: s?.feedForwardLength,
    vocab_size: s?.vocabSize,
  };
  for (const [key, value] of Object.entries(archFacts)) if (value !== undefined) modelInfo[`${arch}.${key}`] = value;
  return {
    license: "",
    ...modelfileFacts(model, contextSize),
    details: details(model),
    model_info: modelInfo,
    capabilities: ["completion", "embedding"],
    modified_at: (model.modifiedAt ?? new Date()).toISOString(),
  };
}

/** A load-only request (no prompt, no messages): Ollama answers once the model is loaded, or unloads it for keep_alive 0. */
async function loadResponse(scope: RequestScope, requested: string, model: ServedModel, directory: ModelDirectory, chat: boolean, unload: boolean): Promise<unknown> {
  const name = model.name;
  if (unload && model.unload) await model.unload();
  else {
    await directory.whenModelSettled(name);
    const status = model.describe();
    if (status.state === "failed") throw new EdgeError("model_not_ready", status.reason ?? `model ${name} failed to load`);
  }
  scope.end({ status: 200 });
  return {
    model: requested,
    created_at: new Date().toISOString(),
    ...(chat ? { message: { role: "assistant", content: "" } } : { response: "" }),
    done: true,
    done_reason: unload ? "unload" : "load",
  };
}

function assistantMessage(content: string, result: GenerationResult): Record<string, unknown> {
  return { role: "assistant", content, ...(result.toolCalls ? { tool_calls: ollamaToolCalls(result.toolCalls) } : {}) };
}

function finalStats(result: GenerationResult, scope: RequestScope, stream: ServedStream): Record<string, unknown> {
  const t = result.timings;
  return {
    // Ollama ends a turn with calls as any other.
    done_reason: result.finishReason === "tool_calls" ? "stop" : result.finishReason,
    total_duration: nanoseconds(performance.now() - scope.receivedAt),
    load_duration: nanoseconds(stream.loadWaitMs),
    prompt_eval_count: t.promptTokens,
    prompt_eval_duration: nanoseconds(t.promptMs),
    eval_count: t.completionTokens,
    eval_duration: nanoseconds(t.decodeMs),
  };
}

function logprobEntries(chunk: GeneratedChunk, topN: number): unknown[] {
  return (chunk.logprobs ?? []).map((entry) => ({
    token: entry.token,
    logprob: entry.logprob,
    bytes: [...Buffer.from(entry.token, "utf8")],
    top_logprobs: entry.top.slice(0, topN).map((alt) => ({ token: alt.token, logprob: alt.logprob, bytes: [...Buffer.from(alt.token, "utf8")] })),
  }));
}

function ndjsonFormat(
  writer: NdjsonWriter,
  model: string,
  kind: "generate" | "chat",
  scope: RequestScope,
  stream: ServedStream,
  logprobs: boolean,
  topLogprobs: number | undefined,
): StreamFormat {
  const piece = (text: string): Record<string, unknown> =>
    kind === "chat" ? { message: { role: "assistant", content: text } } : { response: text };
  return {
    chunk(chunk) {
      const withLogprobs = logprobs && chunk.logprobs !== undefined;
      if (chunk.text.length === 0 && !withLogprobs) return;
      writer.line({
        model,
        created_at: new Date().toISOString(),
        ...piece(chunk.text),
        done: false,
        ...(withLogprobs ? { logprobs: logprobEntries(chunk, topLogprobs ?? 0) } : {}),
      });
    },
    finish(result) {
      // As Ollama: the calls come in a message of their own, before the final one.
      if (result.toolCalls) writer.line({ model, created_at: new Date().toISOString(), message: assistantMessage("", result), done: false });
      writer.line({ model, created_at: new Date().toISOString(), ...piece(""), done: true, ...finalStats(result, scope, stream) });
    },
    error(error) {
      writer.line(errorBody(error));
    },
  };
}
