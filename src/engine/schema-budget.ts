/**
 * Budgets for the JSON schemas a request carries (a response format, tools'
 * parameters) and for a raw GBNF grammar, checked in the gateway before any
 * grammar converter sees them: node-llama-cpp's and llama-server's converters
 * recurse per level and build one rule per node and enum value, and llama.cpp's
 * grammar parser turns every bounded count (`maxLength`, `minItems`, a
 * pattern's `{m,n}` ...) into that many grammar elements (grammar-expansion.ts),
 * all inside the runner that serves everyone. A schema within these budgets
 * converts in bounded time and memory; one beyond them is a 400 naming the
 * limit (and its setting, when it has one).
 */
import { EdgeError } from "../errors.js";
import { MAX_REPEATED_ITEMS, REPETITION_THRESHOLD, quantifiers, repetitionCost } from "./grammar-expansion.js";
import type { GenerateRequest } from "./types.js";

export interface SchemaLimits {
  /** Deepest nesting of objects and arrays inside one schema (`server.schema_max_depth`). */
  depth: number;
  /** Most objects and arrays in one schema (`server.schema_max_nodes`). */
  nodes: number;
  /** Most `enum` values in one schema, all enums together (`server.schema_max_enum_values`). */
  enumValues: number;
  /** Most grammar elements its counts expand into, all together (`server.schema_max_repetitions`). */
  repetitions: number;
}

/** The defaults of `server.schema_max_*` (src/config/sections/server.ts). */
export const DEFAULT_SCHEMA_LIMITS: SchemaLimits = { depth: 32, nodes: 2000, enumValues: 1000, repetitions: 100_000 };

/** Count keywords, as [minimum, maximum] pairs, that the converters turn into repetitions. */
const COUNT_KEYWORDS: ReadonlyArray<readonly [string, string]> = [
  ["minLength", "maxLength"],
  ["minItems", "maxItems"],
  ["minProperties", "maxProperties"],
];

/** Keywords whose values are data, not schemas: a `maxLength` inside them is a value. */
const DATA_KEYWORDS = new Set(["enum", "const", "default", "examples"]);

function overBudget(what: string, measured: string, limit: number, setting: string): EdgeError {
  return new EdgeError("invalid_request", `${what} ${measured}; the limit is ${limit} (${setting})`, {
    details: { limit, setting },
  });
}

function tooManyCopies(what: string, keyword: string, count: number): EdgeError {
  return new EdgeError(
    "invalid_request",
    `${what} has ${keyword} ${count}; the grammar engines repeat one item at most ${MAX_REPEATED_ITEMS} times (llama.cpp's grammar limit)`,
    { details: { limit: MAX_REPEATED_ITEMS, keyword, value: count } },
  );
}

/** Sums the repetitions of a schema or grammar and refuses it once they pass the budget or one needs too many copies. */
class RepetitionTally {
  private total = 0;
  constructor(
    private readonly what: string,
    private readonly limit: number,
  ) {}

  /** Adds a repetition of `min` to `max` (undefined: open) written as `keyword`: `minLength`, `pattern quantifier {3}`. */
  add(keyword: string, min: number, max: number | undefined): void {
    if (min > MAX_REPEATED_ITEMS) throw tooManyCopies(this.what, keyword, min);
    const cost = repetitionCost(min, max);
    this.total += cost;
    if (this.total > this.limit) {
      throw overBudget(
        this.what,
        `expands into more than ${this.limit} grammar elements (minLength/maxLength, minItems/maxItems, minProperties/maxProperties and pattern counts together; ${keyword} ${cost} took it past)`,
        this.limit,
        "server.schema_max_repetitions",
      );
    }
  }
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** Tallies one schema object's own count keywords and pattern. Returns whether it has a maximum the engines leave open. */
function tallyKeywords(schema: Record<string, unknown>, tally: RepetitionTally): boolean {
  let openMaximum = false;
  for (const [minKey, maxKey] of COUNT_KEYWORDS) {
    const min = count(schema[minKey]);
    const max = count(schema[maxKey]);
    if (min === undefined && max === undefined) continue;
    if (max !== undefined && max >= REPETITION_THRESHOLD) openMaximum = true;
    const bounded = max !== undefined && max < REPETITION_THRESHOLD && max > (min ?? 0);
    tally.add(bounded || min === undefined ? maxKey : minKey, min ?? 0, max);
  }
  if (typeof schema.pattern === "string") {
    for (const q of quantifiers(schema.pattern, "regex")) tally.add(`the pattern quantifier ${q.text}, a count of`, q.min, q.max);
  }
  return openMaximum;
}

/**
 * Throws invalid_request when `schema` (described as `what`) is deeper or larger than `limits`, or expands into
 * more grammar than they allow. Returns whether some maximum count is at or past the engines' repetition
 * threshold (see `engineSchema`). Iterative: never recurses.
 */
export function checkSchemaBudget(schema: unknown, limits: SchemaLimits, what: string): { openMaximum: boolean } {
  let nodes = 0;
  let enumValues = 0;
  let openMaximum = false;
  const tally = new RepetitionTally(what, limits.repetitions);
  // [value, depth, whether it is data rather than a schema]
  const stack: Array<[unknown, number, boolean]> = [[schema, 0, false]];
  while (stack.length > 0) {
    const [item, depth, data] = stack.pop()!;
    if (item === null || typeof item !== "object") continue;
    const level = depth + 1;
    if (level > limits.depth) throw overBudget(what, `nests deeper than ${limits.depth} levels`, limits.depth, "server.schema_max_depth");
    if (++nodes > limits.nodes) throw overBudget(what, `has more than ${limits.nodes} objects and arrays`, limits.nodes, "server.schema_max_nodes");
    if (Array.isArray(item)) {
      for (const child of item) stack.push([child, level, data]);
      continue;
    }
    const object = item as Record<string, unknown>;
    const values = object.enum;
    if (Array.isArray(values)) {
      enumValues += values.length;
      if (enumValues > limits.enumValues) throw overBudget(what, `has more than ${limits.enumValues} enum values`, limits.enumValues, "server.schema_max_enum_values");
    }
    if (!data && tallyKeywords(object, tally)) openMaximum = true;
    for (const [key, child] of Object.entries(object)) stack.push([child, level, data || DATA_KEYWORDS.has(key)]);
  }
  return { openMaximum };
}

/**
 * `schema` as the engines get it: maxima of 2000 or more dropped. llama.cpp's grammar parser leaves any maximum
 * past 2000 open already and refuses exactly 2000 (`maxLength: 2000` would fail on both engines while 1999 and
 * 2001 work), so the grammar holds the same language either way and an ordinary `maxLength: 2000` is served.
 * A copy: the request's own schema (echoed by /v1/responses) stays as sent. Call after checkSchemaBudget.
 */
export function engineSchema(schema: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(schema);
  const stack: Array<[unknown, boolean]> = [[copy, false]];
  while (stack.length > 0) {
    const [item, data] = stack.pop()!;
    if (item === null || typeof item !== "object") continue;
    if (Array.isArray(item)) {
      for (const child of item) stack.push([child, data]);
      continue;
    }
    const object = item as Record<string, unknown>;
    if (!data) {
      for (const [, maxKey] of COUNT_KEYWORDS) {
        const max = count(object[maxKey]);
        if (max !== undefined && max >= REPETITION_THRESHOLD) delete object[maxKey];
      }
    }
    for (const [key, child] of Object.entries(object)) stack.push([child, data || DATA_KEYWORDS.has(key)]);
  }
  return copy;
}

/**
 * Checks every schema in `request` (the response format's and each tool's parameters) and a raw GBNF grammar's
 * repetitions; replaces a schema with its engine form (`engineSchema`) when it has open maxima.
 */
export function checkRequestSchemas(request: GenerateRequest, limits: SchemaLimits): void {
  const format = request.responseFormat;
  if (format?.type === "json_schema") {
    if (checkSchemaBudget(format.schema, limits, "the response format's JSON schema").openMaximum) {
      request.responseFormat = { ...format, schema: engineSchema(format.schema) };
    }
  } else if (format?.type === "grammar") {
    const tally = new RepetitionTally("the grammar", limits.repetitions);
    for (const q of quantifiers(format.gbnf, "gbnf")) tally.add(`the repetition ${q.text}, a count of`, q.min, q.max);
  }
  for (const [i, tool] of (request.tools ?? []).entries()) {
    if (tool.parameters === undefined) continue;
    if (checkSchemaBudget(tool.parameters, limits, `the parameters schema of tool "${tool.name}"`).openMaximum) {
      request.tools![i] = { ...tool, parameters: engineSchema(tool.parameters) };
    }
  }
}
