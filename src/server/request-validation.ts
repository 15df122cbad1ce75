/**
 * Request bodies are checked against a zod schema; the first problem becomes
 * one invalid_request EdgeError naming the field (OpenAI's `param`), e.g.
 * `messages[0].content: expected string, received number` or `unknown field "foo"`.
 *
 * Fields a schema does not know are ignored by default, as Ollama and
 * llama-server do: they are taken out of the body (at any depth), reported in
 * the `x-edgelm-ignored-fields` response header and at debug level, and the
 * rest is checked as usual. `server.strict_fields: true` makes them a 400.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import { EdgeError } from "../errors.js";
import { logger } from "../log.js";

/** How a dialect's routes treat fields their schema does not know. */
export interface FieldPolicy {
  /** true: an unknown field is a 400 naming it; false: it is ignored and reported. */
  readonly strictFields?: boolean;
}

/** The response header listing the request fields the server ignored. */
export const IGNORED_FIELDS_HEADER = "x-edgelm-ignored-fields";

/** `a.b[0].c` from a zod path. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out.length === 0 ? String(key) : `.${String(key)}`;
  }
  return out;
}

/**
 * Parses a route's body under the host's field policy; ignored fields go into
 * the response header (set on the raw response, so streamed replies carry it too).
 */
export function parseRequestBody<S extends z.ZodType>(schema: S, request: FastifyRequest, reply: FastifyReply, policy: FieldPolicy): z.output<S> {
  const ignored: string[] = [];
  const data = parseBody(schema, request.body, policy.strictFields === true ? undefined : ignored);
  if (ignored.length > 0) {
    // Header values must be printable ASCII on one line; field names come from the client.
    reply.raw.setHeader(IGNORED_FIELDS_HEADER, ignored.join(", ").replace(/[^\x20-\x7e]/g, "?").slice(0, 2000));
    logger.debug(`${request.method} ${request.url.split("?")[0]}: ignored unknown fields ${ignored.join(", ")}`);
  }
  return data;
}

/**
 * Parses `body` or throws invalid_request naming the first bad field (and how
 * many more there are). With `ignored`, unknown fields are removed and their
 * paths pushed there instead of failing.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, ignored?: string[]): z.output<S> {
  if (body === undefined || body === null || body === "") {
    throw new EdgeError("invalid_request", "the request body is empty; send a JSON object");
  }
  let result = schema.safeParse(body);
  // Each pass removes the unknown keys zod reports; nested objects inside removed keys need no further pass.
  for (let pass = 0; !result.success && ignored && pass < 8; pass++) {
    const unknown = result.error.issues.filter((issue) => issue.code === "unrecognized_keys");
    if (unknown.length === 0) break;
    body = structuredClone(body);
    for (const issue of unknown) {
      const owner = valueAt(body, issue.path);
      if (owner === null || typeof owner !== "object") continue;
      for (const key of issue.keys) {
        delete (owner as Record<string, unknown>)[key];
        ignored.push(issue.path.length > 0 ? `${fieldPath(issue.path)}.${key}` : key);
      }
    }
    result = schema.safeParse(body);
  }
  if (result.success) return result.data;
  const issues = result.error.issues;
  const first = issues[0]!;
  let param = fieldPath(first.path);
  let message: string;
  if (first.code === "unrecognized_keys") {
    const key = first.keys[0]!;
    param = param ? `${param}.${key}` : key;
    message = `unknown field "${param}"`;
  } else if (first.path.length === 0) {
    message = `the request body: ${first.message.replace(/^Invalid input: /, "")}`;
  } else {
    message = `${param}: ${first.message.replace(/^Invalid input: /, "")}`;
  }
  const more = issues.length - 1;
  if (more > 0) message += ` (and ${more} more problem${more === 1 ? "" : "s"})`;
  return failWith(message, param);
}

function failWith(message: string, param: string): never {
  throw new EdgeError("invalid_request", message, param ? { param } : {});
}

function valueAt(value: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let at = value;
  for (const key of path) {
    if (at === null || typeof at !== "object") return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}
