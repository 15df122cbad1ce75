/**
 * The schema budget's accounting of counts (no I/O): what llama.cpp's grammar
 * parser would expand each count into, which counts it cannot compile at all,
 * and the engine form of a schema whose maxima the parser leaves open.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EdgeError } from "../../src/errors.js";
import { gbnfExpansion, quantifiers, repetitionCost } from "../../src/engine/grammar-expansion.js";
import { DEFAULT_SCHEMA_LIMITS, checkRequestSchemas, checkSchemaBudget, engineSchema } from "../../src/engine/schema-budget.js";
import type { GenerateRequest } from "../../src/engine/types.js";

const check = (schema: unknown, limits = DEFAULT_SCHEMA_LIMITS) => checkSchemaBudget(schema, limits, "the schema");

function refusal(fn: () => unknown): EdgeError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof EdgeError, String(error));
    assert.equal(error.code, "invalid_request");
    return error;
  }
  assert.fail("expected a refusal");
}

describe("grammar expansion", () => {
  it("costs a bounded repetition its largest count, an open one (or one past 2000) its minimum", () => {
    assert.equal(repetitionCost(0, 1999), 1999);
    assert.equal(repetitionCost(10, 20), 20);
    assert.equal(repetitionCost(30, 20), 30);
    assert.equal(repetitionCost(5, undefined), 5);
    assert.equal(repetitionCost(5, 2000), 5);
    assert.equal(repetitionCost(0, 50_000_000), 0);
  });

  it("reads regex and GBNF quantifiers, skipping escapes, classes, literals and comments", () => {
    assert.deepEqual(
      quantifiers("^a{3}\\{9}[{7}]b{2,}c{,4}d{1,5}{x}$", "regex").map((q) => [q.min, q.max]),
      [
        [3, 3],
        [2, undefined],
        [0, 4],
        [1, 5],
      ],
    );
    assert.equal(gbnfExpansion('root ::= "x{1999}" [{]{5} # y{1999}\n c{0,10}'), 15);
  });
});

describe("schema budget: counts", () => {
  for (const [name, schema, keyword] of [
    ["minItems", { type: "array", items: { type: "string" }, minItems: 100_000_000 }, /has minItems 100000000; the grammar engines repeat one item at most 1999 times/],
    ["minLength", { type: "string", minLength: 50_000_000 }, /has minLength 50000000/],
    ["minProperties", { type: "object", additionalProperties: { type: "string" }, minProperties: 2000 }, /has minProperties 2000/],
    ["a pattern's {n}", { type: "string", pattern: "^a{100000000}$" }, /has the pattern quantifier \{100000000\}, a count of 100000000/],
  ] as const) {
    it(`refuses ${name} beyond what the engines can compile, naming it`, () => {
      assert.match(refusal(() => check(schema)).message, keyword);
    });
  }

  it("sums the counts of a schema and refuses past server.schema_max_repetitions, naming the keyword that crossed it", () => {
    const properties = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`p${i}`, { type: "string", maxLength: 1999 }]));
    const error = refusal(() => check({ type: "object", properties }));
    assert.match(error.message, /expands into more than 100000 grammar elements .*maxLength 1999 took it past\); the limit is 100000 \(server\.schema_max_repetitions\)/);
    assert.deepEqual(check({ type: "object", properties }, { ...DEFAULT_SCHEMA_LIMITS, repetitions: 200_000 }), { openMaximum: false });
  });

  it("does not count maxima the engines leave open, so long text fields are cheap", () => {
    const properties = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`p${i}`, { type: "string", maxLength: 10_000, minLength: 1 }]));
    assert.deepEqual(check({ type: "object", properties }), { openMaximum: true });
  });

  it("reads counts only where they are keywords: not in enum, const, default or examples values, nor as property names", () => {
    const schema = {
      type: "object",
      properties: { minLength: { type: "string" }, pattern: { type: "string" } },
      default: { minLength: 50_000_000 },
      examples: [{ pattern: "a{100000000}" }],
      enum: [{ maxItems: 1999 }],
      const: { minItems: 1e9 },
    };
    assert.deepEqual(check(schema), { openMaximum: false });
  });

  it("serves maxima of 2000 or more as open (llama.cpp refuses exactly 2000), leaving the request's own schema as sent", () => {
    const schema = { type: "object", properties: { title: { type: "string", maxLength: 2000 }, tags: { type: "array", maxItems: 5000, items: { type: "string", maxLength: 12 } } }, default: { maxLength: 2000 } };
    const sent = JSON.stringify(schema);
    const served = engineSchema(schema);
    assert.equal(JSON.stringify(schema), sent);
    assert.deepEqual(served, { type: "object", properties: { title: { type: "string" }, tags: { type: "array", items: { type: "string", maxLength: 12 } } }, default: { maxLength: 2000 } });

    const request: GenerateRequest = {
      prompt: "x",
      responseFormat: { type: "json_schema", schema },
      tools: [{ name: "t", parameters: schema }, { name: "u", parameters: { type: "object" } }],
    };
    checkRequestSchemas(request, DEFAULT_SCHEMA_LIMITS);
    assert.deepEqual(request.responseFormat, { type: "json_schema", schema: served });
    assert.deepEqual(request.tools![0]!.parameters, served);
    assert.deepEqual(request.tools![1]!.parameters, { type: "object" });
    assert.equal(JSON.stringify(schema), sent);
  });

  it("counts a raw GBNF grammar's repetitions the same way", () => {
    const gbnf = `root ::= ${Array.from({ length: 60 }, () => '[a-z]{0,1999}').join(" ")}`;
    assert.match(refusal(() => checkRequestSchemas({ prompt: "x", responseFormat: { type: "grammar", gbnf } }, DEFAULT_SCHEMA_LIMITS)).message, /^the grammar expands into more than 100000 grammar elements/);
    assert.match(
      refusal(() => checkRequestSchemas({ prompt: "x", responseFormat: { type: "grammar", gbnf: 'root ::= "a"{100000000}' } }, DEFAULT_SCHEMA_LIMITS)).message,
      /the grammar has the repetition \{100000000\}, a count of 100000000/,
    );
  });
});
