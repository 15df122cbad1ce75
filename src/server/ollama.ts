/**
 * The Ollama dialect: /api/tags, /api/ps, /api/show, /api/generate, /api/chat
 * (NDJSON streams by default, one object with stream:false), /api/embed,
 * /api/embeddings, /api/version. Ollama's option names map to the engine's
 * GenerateRequest; durations go back in nanoseconds. Errors are Ollama's
 * `{"error": "..."}`, made in exactly one place (errorBody).
 */
import type { FastifyInstance } from "fastify";
import type { GeneratedChunk, GenerateRequest, GenerationResult } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import type { ServedModel, ServedStream } from "../scheduler/served-model.js";
import { EDGELM_VERSION } from "../version.js";
import type { ApiDialect } from "./api-dialect.js";
import { scopeOf } from "./app.js";
import type { DialectHost, ModelDirectory } from "./app-host.js";
import { collectGeneration, endCollected, setRouteHeaders, streamGeneration, type StreamFormat } from "./generation-response.js";
import { NdjsonWriter } from "./ndjson-writer.js";
import { details, ollamaName, showResponse } from "./ollama-model-info.js";
import { chatRequest, generateRequest, keepAliveOf } from "./ollama-requests.js";
import { generateTruncating } from "./ollama-truncation.js";
import {
  ollamaChatSchema,
  ollamaEmbeddingsSchema,
  ollamaEmbedSchema,
  ollamaGenerateSchema,
  ollamaShowSchema,
  type OllamaChatBody,
  type OllamaGenerateBody,
} from "./ollama-schemas.js";
import { ollamaToolCalls } from "./ollama-tools.js";
import { checkEmbeddingCount, nanoseconds } from "./request-fields.js";
import type { RequestScope } from "../scheduler/request-scope.js";
import { parseRequestBody } from "./request-validation.js";
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

// --- responses ----------------------------------------------------------------

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
