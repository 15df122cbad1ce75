/**
 * Budgets for the JSON schemas a request carries (a response format, tools'
 * parameters), checked in the gateway before any grammar converter sees them:
 * node-llama-cpp's and llama-server's converters recurse per level and build
 * one rule per node and enum value, inside the runner that serves everyone.
 * A schema within these budgets converts in bounded time and memory; one
 * beyond them is a 400 naming the limit and its setting.
 */
import { EdgeError } from "../errors.js";
import type { GenerateRequest } from "./types.js";

export interface SchemaLimits {
  /** Deepest nesting of objects and arrays inside one schema (`server.schema_max_depth`). */
  depth: number;
  /** Most objects and arrays in one schema (`server.schema_max_nodes`). */
  nodes: number;
  /** Most `enum` values in one schema, all enums together (`server.schema_max_enum_values`). */
  enumValues: number;
}

/** The defaults of `server.schema_max_*` (src/config/sections/server.ts). */
export const DEFAULT_SCHEMA_LIMITS: SchemaLimits = { depth: 32, nodes: 2000, enumValues: 1000 };

function overBudget(what: string, measured: string, limit: number, setting: string): EdgeError {
  return new EdgeError("invalid_request", `${what} ${measured}; the limit is ${limit} (${setting})`, {
    details: { limit, setting },
  });
}

/** Throws invalid_request when `schema` (described as `what`) is deeper or larger than `limits`. Iterative: never recurses. */
export function checkSchemaBudget(schema: unknown, limits: SchemaLimits, what: string): void {
  let nodes = 0;
  let enumValues = 0;
  const stack: Array<[unknown, number]> = [[schema, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== "object") continue;
    const level = depth + 1;
    if (level > limits.depth) throw overBudget(what, `nests deeper than ${limits.depth} levels`, limits.depth, "server.schema_max_depth");
    if (++nodes > limits.nodes) throw overBudget(what, `has more than ${limits.nodes} objects and arrays`, limits.nodes, "server.schema_max_nodes");
    if (Array.isArray(item)) {
      for (const child of item) stack.push([child, level]);
      continue;
    }
    const values = (item as Record<string, unknown>).enum;
    if (Array.isArray(values)) {
      enumValues += values.length;
      if (enumValues > limits.enumValues) throw overBudget(what, `has more than ${limits.enumValues} enum values`, limits.enumValues, "server.schema_max_enum_values");
    }
    for (const child of Object.values(item)) stack.push([child, level]);
  }
}

/** Checks every schema in `request`: the response format's and each tool's parameters. */
export function checkRequestSchemas(request: GenerateRequest, limits: SchemaLimits): void {
  const format = request.responseFormat;
  if (format?.type === "json_schema") checkSchemaBudget(format.schema, limits, "the response format's JSON schema");
  for (const tool of request.tools ?? []) {
    if (tool.parameters !== undefined) checkSchemaBudget(tool.parameters, limits, `the parameters schema of tool "${tool.name}"`);
  }
}
