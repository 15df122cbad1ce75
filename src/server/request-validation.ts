/**
 * Request bodies are checked against a zod schema; the first problem becomes
 * one invalid_request EdgeError naming the field (OpenAI's `param`), e.g.
 * `messages[0].content: expected string, received number` or `unknown field "foo"`.
 */
import type { z } from "zod";
import { EdgeError } from "../errors.js";

/** `a.b[0].c` from a zod path. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out.length === 0 ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Parses `body` or throws invalid_request naming the first bad field (and how many more there are). */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === undefined || body === null || body === "") {
    throw new EdgeError("invalid_request", "the request body is empty; send a JSON object");
  }
  const result = schema.safeParse(body);
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
