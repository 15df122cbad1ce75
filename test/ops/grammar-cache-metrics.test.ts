/**
 * A runner's grammar cache under many distinct JSON schemas (the hardening
 * report's growth case, scaled down): it stays within its entry and byte
 * bounds, weighs each grammar by what it expands into, and /metrics shows its size.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { TEST_MODEL } from "../helpers.js";
import { startOpsGateway, type OpsFixture } from "./ops-gateway-fixture.js";

const MAX_BYTES = 1024 * 1024;

function sample(text: string, name: string): number {
  const match = new RegExp(`^${name}\\{model="stories",runner="([^"]+)"\\} (\\S+)$`, "m").exec(text);
  assert.ok(match, `no ${name} sample in:\n${text.split("\n").filter((l) => l.includes("grammar")).join("\n")}`);
  return Number(match[2]);
}

describe("grammar cache bounds, seen in /metrics", () => {
  let fixture: OpsFixture;
  let openai: OpenAI;
  before(async () => {
    fixture = await startOpsGateway({
      models: [{ name: "stories", ref: TEST_MODEL, parallel: 2, contextSize: 256, threads: { decode: 1, prompt: 1 } }],
      // The 3,000-value enums are past the request budget's default (server.schema_max_enum_values: 1000).
      config: { engine: { backend: "node-llama-cpp", grammar_cache: { max_entries: 8, max_bytes: MAX_BYTES } }, server: { schema_max_enum_values: 5000 } },
    });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => fixture?.close());

  const withSchema = (schema: Record<string, unknown>, i: number) =>
    openai.chat.completions.create({
      model: "stories",
      messages: [{ role: "user", content: "Once upon a time" }],
      max_tokens: 1,
      response_format: { type: "json_schema", json_schema: { name: `s${i}`, schema } },
    });
  const metrics = async () => (await fetch(`${fixture.url}/metrics`)).text();

  it("30 distinct small schemas leave 8 grammars, the other 22 evicted", async () => {
    for (let i = 0; i < 30; i++) {
      const reply = await withSchema({ type: "object", properties: { [`field_${i}`]: { type: "integer" } }, required: [`field_${i}`] }, i);
      assert.equal(reply.choices.length, 1);
    }
    const text = await metrics();
    assert.equal(sample(text, "edgelm_grammar_cache_entries"), 8);
    assert.equal(sample(text, "edgelm_grammar_cache_evictions_total"), 22);
    assert.ok(sample(text, "edgelm_grammar_cache_bytes") <= MAX_BYTES);
  });

  it("a grammar is weighed by what its repetitions expand into, not only by its text", async () => {
    // maxLength 1999 is a few characters of GBNF ({0,1999}) and 1,999 rules once llama.cpp has parsed it.
    const before = sample(await metrics(), "edgelm_grammar_cache_bytes");
    assert.ok(before < 100_000, `${before} bytes of small grammars`);
    await withSchema({ type: "object", properties: { title: { type: "string", maxLength: 1999 } }, required: ["title"] }, 200);
    const bytes = sample(await metrics(), "edgelm_grammar_cache_bytes");
    assert.ok(bytes >= 1999 * 300 && bytes <= MAX_BYTES, `${bytes} bytes`);
  });

  it("schemas with 3,000-value enums are held within the byte bound", async () => {
    for (let i = 0; i < 8; i++) {
      const values = Array.from({ length: 3000 }, (_, j) => `value-${i}-${j}`);
      await withSchema({ type: "object", properties: { v: { enum: values } }, required: ["v"] }, 100 + i);
      const text = await metrics();
      const bytes = sample(text, "edgelm_grammar_cache_bytes");
      assert.ok(bytes > 0 && bytes <= MAX_BYTES, `${bytes} bytes after ${i + 1} large schemas`);
      assert.ok(sample(text, "edgelm_grammar_cache_entries") <= 8);
    }
  });
});
