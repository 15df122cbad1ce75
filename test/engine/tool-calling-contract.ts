/**
 * Tool calling as an engine contract: every backend runs the same checks on
 * stories260K carrying a compact Hermes-style chat template (weights unchanged; an
 * untrained chat model, so what the model says is noise — the grammar, the
 * parser and the round trip are what is checked).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ajv } from "ajv";
import { MAX_CALLS_PER_TURN, parseToolCalls, toolCallGrammar, type ToolCallSyntax } from "../../src/engine/tool-call-syntax.js";
import type { ChatMessage, GenerateRequest, GenerationResult, LoadedModel, ToolDefinition } from "../../src/engine/types.js";
import { writeTemplatedStories } from "./templated-model.js";
import { HERMES_COMPACT_TEMPLATE } from "./tool-templates.js";

/** A schema whose every value the grammar bounds (enums, a non-negative integer, short strings, a short list). */
export const TRIP_TOOL: ToolDefinition = {
  name: "book_trip",
  description: "Book a trip",
  parameters: {
    type: "object",
    properties: {
      city: { type: "string", enum: ["Oslo", "Lima", "Pune"] },
      nights: { type: "integer", minimum: 0 },
      note: { type: "string", maxLength: 8 },
      tags: { type: "array", items: { type: "string", maxLength: 4 }, maxItems: 2 },
      flex: { type: "boolean" },
    },
    required: ["city", "nights"],
    additionalProperties: false,
  },
};

export const WEATHER_TOOL: ToolDefinition = {
  name: "get_weather",
  parameters: { type: "object", properties: { city: { type: "string", maxLength: 6 } }, required: ["city"], additionalProperties: false },
};

/** A function without arguments: its calls are short enough for the most calls a turn may hold to fit the context. */
export const PING_TOOL: ToolDefinition = { name: "t", parameters: { type: "object", properties: {}, additionalProperties: false } };

const ajv = new Ajv({ strict: false });
const validators = new Map([TRIP_TOOL, WEATHER_TOOL, PING_TOOL].map((t) => [t.name, ajv.compile(t.parameters!)]));

/** Asserts that each call names a known tool and its arguments validate against that tool's schema. */
export function assertValidCalls(calls: ReadonlyArray<{ name: string; arguments: string }> | undefined, context: string): void {
  assert.ok(calls && calls.length > 0, `${context}: no calls`);
  for (const call of calls) {
    const validate = validators.get(call.name);
    assert.ok(validate, `${context}: unknown function ${call.name}`);
    const args = JSON.parse(call.arguments) as unknown;
    assert.ok(validate(args), `${context}: ${call.arguments} does not match the schema: ${ajv.errorsText(validate.errors)}`);
  }
}

async function complete(model: LoadedModel, request: GenerateRequest): Promise<GenerationResult & { streamed: string }> {
  const stream = await model.generate(request);
  let streamed = "";
  for await (const chunk of stream) streamed += chunk.text;
  return { ...(await stream.result), streamed };
}

const ask: ChatMessage[] = [{ role: "user", content: "Book Oslo." }];

/** Runs the tool-calling contract against a model `load` makes of `path` (2 sequences, context 1024). */
export function toolCallingContract(label: string, load: (path: string) => Promise<LoadedModel>): void {
  describe(`tool-calling contract: ${label}`, () => {
    let dir: string;
    let model: LoadedModel;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "edgelm-tools-"));
      model = await load(await writeTemplatedStories(dir, HERMES_COMPACT_TEMPLATE, {}, "stories-hermes.gguf"));
    });
    after(async () => {
      await model?.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    it('makes 100 calls in a row under tool_choice "required", each parsing and matching its schema', async () => {
      const names = new Set<string>();
      for (let i = 0; i < 100; i++) {
        const request: GenerateRequest = { messages: ask, tools: [TRIP_TOOL, WEATHER_TOOL], toolChoice: "required", parallelToolCalls: false, temperature: 1, seed: i };
        const result = await complete(model, request);
        assert.equal(result.finishReason, "tool_calls", `call ${i}: ${result.text}`);
        assert.equal(result.toolCalls!.length, 1);
        assertValidCalls(result.toolCalls, `call ${i}`);
        assert.equal(result.streamed, result.text);
        names.add(result.toolCalls![0]!.name);
      }
      assert.equal(names.size, 2, "the grammar lets the model pick either function");
    });

    it("makes parallel calls up to the per-turn limit", async () => {
      let most = 0;
      for (let seed = 0; seed < 5; seed++) {
        const result = await complete(model, { messages: ask, tools: [WEATHER_TOOL, PING_TOOL], toolChoice: { name: "t" }, temperature: 1, seed });
        assert.equal(result.finishReason, "tool_calls", result.text);
        assert.ok(result.toolCalls!.length >= 1 && result.toolCalls!.length <= MAX_CALLS_PER_TURN);
        assertValidCalls(result.toolCalls, `seed ${seed}`);
        assert.equal(new Set(result.toolCalls!.map((c) => c.id)).size, result.toolCalls!.length, "each call has its own id");
        most = Math.max(most, result.toolCalls!.length);
      }
      assert.ok(most > 1, "some turn held several calls");
    });

    it("calls the named function, once when parallel calls are off", async () => {
      for (let seed = 0; seed < 5; seed++) {
        const result = await complete(model, {
          messages: ask,
          tools: [TRIP_TOOL, WEATHER_TOOL],
          toolChoice: { name: "get_weather" },
          parallelToolCalls: false,
          temperature: 1,
          seed,
        });
        assert.equal(result.toolCalls?.length, 1, result.text);
        assert.equal(result.toolCalls![0]!.name, "get_weather");
        assertValidCalls(result.toolCalls, `seed ${seed}`);
      }
    });

    it("runs every family's call grammar and reads its output back", async () => {
      for (const syntax of ["hermes", "llama3", "mistral", "mistral-args", "generic"] as ToolCallSyntax[]) {
        const gbnf = toolCallGrammar([TRIP_TOOL, WEATHER_TOOL], syntax, false);
        for (let seed = 0; seed < 3; seed++) {
          const result = await complete(model, { messages: ask, responseFormat: { type: "grammar", gbnf }, temperature: 1, seed });
          assert.equal(result.finishReason, "stop", `${syntax}: ${result.text}`);
          assertValidCalls(parseToolCalls(result.text, syntax), `${syntax} seed ${seed}: ${result.text}`);
        }
      }
    });

    it("continues a conversation with a call and its result (the round trip)", async () => {
      const first = await complete(model, { messages: ask, tools: [TRIP_TOOL], toolChoice: "required", parallelToolCalls: false, temperature: 0 });
      const call = first.toolCalls![0]!;
      const history: ChatMessage[] = [
        ...ask,
        { role: "assistant", content: first.text, toolCalls: [call] },
        { role: "tool", content: '{"booked": true}', toolCallId: call.id, name: call.name },
      ];
      const prompt = await model.renderChat(history);
      assert.match(prompt, /<tool_response>\n\{"booked": true\}\n<\/tool_response>/);
      assert.ok(prompt.includes(`"name": "book_trip", "arguments": ${"{"}`), prompt);
      // The model continues: in text (auto), and with a new call when required.
      const answer = await complete(model, { messages: history, tools: [TRIP_TOOL], temperature: 0, maxTokens: 20 });
      assert.equal(answer.streamed, answer.text);
      assert.ok(["stop", "length", "tool_calls"].includes(answer.finishReason));
      const again = await complete(model, { messages: history, tools: [TRIP_TOOL], toolChoice: "required", parallelToolCalls: false, temperature: 0 });
      assertValidCalls(again.toolCalls, "second call");
    });

    it("answers in text with tool_choice none, and refuses bad tools before any token", async () => {
      const text = await complete(model, { messages: ask, tools: [TRIP_TOOL], toolChoice: "none", temperature: 0, maxTokens: 10 });
      assert.equal(text.toolCalls, undefined);
      assert.equal(text.finishReason, "length");
      await assert.rejects(model.generate({ messages: ask, tools: [TRIP_TOOL], toolChoice: { name: "nope" } }), /tool_choice: names "nope"/);
      assert.equal(model.activeSequences, 0);
    });
  });
}
