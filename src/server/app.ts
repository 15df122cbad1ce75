/**
 * The HTTP app: Fastify with one JSON body parser for every content type (curl
 * sends form content types), the request scope and auth hooks, the probes, the
 * dialects' routes, and the error handler that hands every failure to the
 * dialect owning the URL.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { IncomingMessage } from "node:http";
import { EdgeError, isEdgeError, toEdgeError } from "../errors.js";
import { jsonTextDepth } from "../json-depth.js";
import { logger } from "../log.js";
import { errorHeaders, type ApiDialect } from "./api-dialect.js";
import { ApiKeyCheck, isAdminPath } from "./api-key-check.js";
import type { AppHost } from "./app-host.js";
import type { RequestScope } from "../scheduler/request-scope.js";

/** Paths anyone may call, keys or not: liveness and readiness probes. */
const PROBES = new Set(["/health", "/ready", "/v1/health"]);

const scopes = new WeakMap<IncomingMessage, RequestScope>();

/** The scope of a request, renamed to `route` (e.g. "openai.chat") by its handler. */
export function scopeOf(request: FastifyRequest, route?: string): RequestScope {
  const scope = scopes.get(request.raw);
  if (!scope) throw new EdgeError("internal", "request scope missing");
  if (route) scope.route = route;
  return scope;
}

export interface AppOptions {
  dialects: readonly ApiDialect[];
  apiKeys: readonly string[];
  /** Keys for /admin/* (server.admin_keys); without any, /admin/* answers loopback clients only. */
  adminKeys?: readonly string[];
  bodyLimitBytes: number;
  /** Deepest nesting of objects and arrays a body may have (server.json_max_depth). */
  jsonMaxDepth: number;
  /** Paths served without an API key besides the probes (e.g. /metrics with metrics.public). */
  publicPaths?: readonly string[];
  /**
   * The web console's page and static files (`/`, `/console/...` except `/console/api/...`) are served without a
   * key: they hold no data, and the page asks for a key before it calls anything else.
   */
  consolePublic?: boolean;
}

/** Whether `path` is one of the web console's static files (or its page), which carry no data. */
export function isConsoleAssetPath(path: string): boolean {
  return path === "/" || path === "/console" || (path.startsWith("/console/") && !path.startsWith("/console/api/") && path !== "/console/api");
}

/** The Fastify app for `host`; dialects register their routes with `host` as their DialectHost. */
export function createApp(host: AppHost, options: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes,
    // Idle keep-alive sockets close at shutdown; busy ones finish their response first.
    forceCloseConnections: "idle",
    // The gateway answers in the dialect's shape while it closes (see the onRequest hook).
    return503OnClosing: false,
    keepAliveTimeout: 72_000,
    // A client gets a minute to send its request (headers and body); responses may stream for longer.
    requestTimeout: 60_000,
    routerOptions: { ignoreTrailingSlash: true },
  });
  const keys = new ApiKeyCheck(options.apiKeys, options.adminKeys ?? []);
  const open = new Set([...PROBES, ...(options.publicPaths ?? [])]);
  // The dialect with the longest matching prefix (llama-server's /v1/health within OpenAI's /v1/); else the first.
  const dialectFor = (url: string): ApiDialect => {
    let best: ApiDialect | undefined;
    let bestLength = 0;
    for (const d of options.dialects) {
      for (const p of d.prefixes) if (p.length > bestLength && url.startsWith(p)) [best, bestLength] = [d, p.length];
    }
    return best ?? options.dialects[0]!;
  };

  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (request, body, done) => {
    // No route reads the body of a path that does not exist: that is a 404, whatever was sent.
    if (request.is404) return done(null, undefined);
    const text = (body as string).trim();
    if (text.length === 0) return done(null, undefined);
    // Before anything recursive (the parser's callers, schema validation, the dialects, a runner's IPC) sees it.
    const depth = jsonTextDepth(text, options.jsonMaxDepth);
    if (depth > options.jsonMaxDepth) {
      return done(
        new EdgeError("invalid_request", `the request body nests objects and arrays deeper than ${options.jsonMaxDepth} levels; the limit is ${options.jsonMaxDepth} (server.json_max_depth)`, {
          details: { limit: options.jsonMaxDepth, setting: "server.json_max_depth" },
        }),
        undefined,
      );
    }
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(new EdgeError("invalid_request", `the request body is not valid JSON: ${(error as Error).message}`), undefined);
    }
  });

  app.addHook("onRequest", (request, reply, done) => {
    const path = request.url.split("?")[0]!;
    const scope = host.requests.open(`${request.method} ${path}`, request.headers);
    scopes.set(request.raw, scope);
    // The connection closed before the response was complete: the client is gone.
    const res = reply.raw;
    res.once("close", () => {
      if (!res.writableFinished) scope.cancel(new EdgeError("aborted", "the client closed the connection"));
    });
    if (open.has(path) || (options.consolePublic === true && request.method === "GET" && isConsoleAssetPath(path))) return done();
    if (host.requests.closing) return done(host.requests.shuttingDown());
    try {
      if (isAdminPath(path)) keys.checkAdmin(request.headers.authorization, request.raw.socket.remoteAddress);
      else keys.check(request.headers.authorization);
      done();
    } catch (error) {
      done(error as Error);
    }
  });

  // Every response that Fastify sends reports its end (handlers report first, with token counts; ending twice is a no-op).
  app.addHook("onResponse", (request, reply, done) => {
    scopes.get(request.raw)?.end({ status: reply.statusCode });
    done();
  });

  app.setErrorHandler((error, request, reply) => sendError(request, reply, toHttpError(error, options.bodyLimitBytes), dialectFor(request.url)));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0];
    sendError(request, reply, new EdgeError("route_not_found", `there is no ${request.method} ${path} on this server (see docs/api.md)`), dialectFor(request.url));
  });

  app.get("/health", async (request) => {
    scopeOf(request, "health").end({ status: 200 });
    return { status: "ok" };
  });
  app.get("/ready", async (request, reply) => {
    const models = await host.readiness();
    const ready = !host.requests.closing && models.length > 0 && models.every((m) => readyToServe(m.state));
    const status = ready ? 200 : 503;
    scopeOf(request, "ready").end({ status });
    return reply.code(status).send({ status: ready ? "ready" : "not ready", models });
  });

  for (const dialect of options.dialects) dialect.register(app, host);
  return app;
}

/** Whether a model in `state` counts as ready on the probes: loaded, or unloaded after keep_alive (its next request loads it). */
export function readyToServe(state: string): boolean {
  return state === "ready" || state === "unloaded";
}

function sendError(request: FastifyRequest, reply: FastifyReply, error: EdgeError, dialect: ApiDialect): void {
  if (error.code === "internal") logger.error(`${request.method} ${request.url}: ${error.message}`);
  scopes.get(request.raw)?.end({ status: error.status, errorCode: error.code });
  if (reply.sent || reply.raw.headersSent) return;
  void reply
    .code(error.status)
    .headers(errorHeaders(error))
    .type("application/json; charset=utf-8")
    .send(JSON.stringify(dialect.errorBody(error)));
}

/** Fastify's own errors (body too large, bad content length) as EdgeErrors. */
function toHttpError(error: unknown, bodyLimit: number): EdgeError {
  if (isEdgeError(error)) return error;
  const fastifyError = error as { code?: string; statusCode?: number; message?: string };
  if (fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE" || fastifyError.statusCode === 413) {
    return new EdgeError("payload_too_large", `the request body is larger than the limit of ${bodyLimit} bytes (server.body_limit_bytes)`);
  }
  if (typeof fastifyError.statusCode === "number" && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new EdgeError("invalid_request", fastifyError.message ?? "bad request");
  }
  return toEdgeError(error);
}
