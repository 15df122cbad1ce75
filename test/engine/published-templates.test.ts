/**
 * Tool calling through the chat templates model publishers ship (read from the
 * llama.cpp source node-llama-cpp bundles, see published-templates.ts), not
 * look-alikes: each family's template is recognised, gets the tools, writes past
 * calls in a form our parser reads back, and carries the results; then
 * stories260K carrying Qwen 2.5's published template makes schema-valid calls
 * and a round trip on both engines.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ChatTemplate } from "../../src/engine/chat-template.js";
import { LlamaServerRunner } from "../../src/engine/llama-server/llama-server-runner.js";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import { parseToolCalls, type ToolCallSyntax } from "../../src/engine/tool-call-syntax.js";
import type { ChatMessage, GenerateRequest, LoadedModel } from "../../src/engine/types.js";
import { testLlamaServer } from "../helpers.js";
import { publishedTemplate } from "./published-templates.js";
import { WEATHER_HISTORY as history, WEATHER_TOOL_DESCRIBED as weather } from "./tool-templates.js";
import { writeTemplatedStories } from "./templated-model.js";
import { assertValidCalls, TRIP_TOOL, WEATHER_TOOL } from "./tool-calling-contract.js";

interface Case {
  file: string;
  syntax: ToolCallSyntax;
  /** The markup the template wrote for the past call. */
  call: RegExp;
  /** How the prompt ends: the template's opening of the assistant's turn (or the result, for Mistral). */
  end: string;
}

const CASES: Case[] = [
  { file: "Qwen-Qwen2.5-7B-Instruct.jinja", syntax: "hermes", call: /<tool_call>\n\{"name": "get_weather"[^\n]*\n<\/tool_call>/, end: "<|im_start|>assistant\n" },
  { file: "Qwen-Qwen3-0.6B.jinja", syntax: "hermes", call: /<tool_call>\n\{"name": "get_weather"[^\n]*\n<\/tool_call>/, end: "<|im_start|>assistant\n" },
  { file: "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", syntax: "hermes", call: /<tool_call>\n\{"name": "get_weather"[^\n]*\n<\/tool_call>/, end: "<|im_start|>assistant\n" },
  { file: "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", syntax: "hermes", call: /<tool_call>\n\{"name": "get_weather"[^\n]*\n<\/tool_call>/, end: "<|im_start|>assistant\n" },
  { file: "meta-llama-Llama-3.1-8B-Instruct.jinja", syntax: "llama3", call: /\{"name": "get_weather", "parameters": \{[^}]*\}\}/, end: "<|start_header_id|>assistant<|end_header_id|>\n\n" },
  { file: "meta-llama-Llama-3.2-3B-Instruct.jinja", syntax: "llama3", call: /\{"name": "get_weather", "parameters": \{[^}]*\}\}/, end: "<|start_header_id|>assistant<|end_header_id|>\n\n" },
  { file: "meta-llama-Llama-3.3-70B-Instruct.jinja", syntax: "llama3", call: /\{"name": "get_weather", "parameters": \{[^}]*\}\}/, end: "<|start_header_id|>assistant<|end_header_id|>\n\n" },
  { file: "mistralai-Mistral-Nemo-Instruct-2407.jinja", syntax: "mistral", call: /\[TOOL_CALLS\]\[.*?\](?=\[TOOL_RESULTS\])/, end: "[/TOOL_RESULTS]" },
  { file: "mistralai-Ministral-3-14B-Reasoning-2512.jinja", syntax: "mistral-args", call: /\[TOOL_CALLS\]get_weather\[ARGS\]\{[^}]*\}/, end: "[/TOOL_RESULTS]" },
  { file: "unsloth-mistral-Devstral-Small-2507.jinja", syntax: "mistral-args", call: /\[TOOL_CALLS\]get_weather\[ARGS\]\{[^}]*\}/, end: "[/TOOL_RESULTS]" },
  // This copy of SmolLM3's template has no tool markup: the generic syntax, described in its system message.
  { file: "HuggingFaceTB-SmolLM3-3B.jinja", syntax: "generic", call: /<tool_call>\{"name":"get_weather"[^\n]*<\/tool_call>/, end: "<|im_start|>assistant\n" },
];

const templates: ChatTemplate[] = [];
after(async () => Promise.all(templates.map((t) => t.dispose())));

async function open(file: string): Promise<ChatTemplate> {
  const template = await ChatTemplate.open({ "tokenizer.chat_template": publishedTemplate(file) }, file);
  templates.push(template);
  return template;
}

describe("published chat templates with tools", () => {
  for (const c of CASES) {
    it(`${c.file}: ${c.syntax} syntax, tools offered, the past call read back, the result carried`, async () => {
      const template = await open(c.file);
      const prompt = await template.render(history, { tools: [weather] });
      assert.equal(prompt.toolSyntax, c.syntax, prompt.text);
      assert.equal(prompt.stops.length, 0, "the model's own template rendered it, not the fallback");
      const offered = prompt.text.indexOf("get_weather");
      assert.ok(offered >= 0 && prompt.text.includes("Weather in a city"), "the tools are offered");
      const call = c.call.exec(prompt.text);
      assert.ok(call, `the past call in ${c.syntax} markup:\n${prompt.text}`);
      const parsed = parseToolCalls(call[0], c.syntax);
      assert.equal(parsed?.length, 1, call[0]);
      assert.equal(parsed![0]!.name, "get_weather");
      assert.deepEqual(JSON.parse(parsed![0]!.arguments), { city: "Oslo" });
      const result = prompt.text.indexOf("sunny, 21 C");
      assert.ok(result > call.index, "the result follows the call");
      assert.ok(prompt.text.endsWith(c.end), `ends with ${JSON.stringify(c.end)}: ${JSON.stringify(prompt.text.slice(-60))}`);
      const none = await template.render(history, { tools: [weather], toolChoice: "none" });
      assert.ok(!none.text.includes("Weather in a city"), "tool_choice none offers no tools");
      assert.ok(none.text.includes("sunny, 21 C"), "and still carries the history");
    });
  }
});

const ask: ChatMessage[] = [{ role: "user", content: "Book Oslo." }];

async function complete(model: LoadedModel, request: GenerateRequest) {
  const stream = await model.generate(request);
  let streamed = "";
  for await (const chunk of stream) streamed += chunk.text;
  return { ...(await stream.result), streamed };
}

/** stories260K with Qwen 2.5's published template: calls, then the round trip, on one engine. */
function qwenRoundTrip(label: string, load: (path: string) => Promise<LoadedModel>): void {
  describe(`Qwen 2.5's published template on ${label}`, () => {
    let dir: string;
    let model: LoadedModel;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "edgelm-qwen-template-"));
      const path = await writeTemplatedStories(dir, publishedTemplate("Qwen-Qwen2.5-7B-Instruct.jinja"), { "llama.context_length": 4096 }, "stories-qwen.gguf");
      model = await load(path);
    });
    after(async () => {
      await model?.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    it('makes schema-valid calls under tool_choice "required", then continues after the result', async () => {
      for (let seed = 0; seed < 10; seed++) {
        const result = await complete(model, { messages: ask, tools: [TRIP_TOOL, WEATHER_TOOL], toolChoice: "required", parallelToolCalls: false, temperature: 1, seed });
        assert.equal(result.finishReason, "tool_calls", result.text);
        assertValidCalls(result.toolCalls, `seed ${seed}`);
        assert.equal(result.streamed, result.text);
      }
      const first = await complete(model, { messages: ask, tools: [TRIP_TOOL], toolChoice: "required", parallelToolCalls: false, temperature: 0 });
      const call = first.toolCalls![0]!;
      const turn: ChatMessage[] = [...ask, { role: "assistant", content: first.text, toolCalls: [call] }, { role: "tool", content: '{"booked": true}', toolCallId: call.id, name: call.name }];
      const prompt = await model.renderChat(turn);
      assert.match(prompt, /<\|im_start\|>assistant\n<tool_call>\n\{"name": "book_trip", "arguments": \{/, "the call in the template's own markup");
      assert.match(prompt, /<tool_response>\n\{"booked": true\}\n<\/tool_response>/);
      const again = await complete(model, { messages: turn, tools: [TRIP_TOOL], toolChoice: "required", parallelToolCalls: false, temperature: 0 });
      assertValidCalls(again.toolCalls, "second call");
    });
  });
}

qwenRoundTrip("node-llama-cpp", (path) => new NodeLlamaCppBackend().load({ path, parallel: 1, contextSize: 2048, threads: { decode: 1, prompt: 1 } }));
qwenRoundTrip("llama-server", async (path) => {
  const runner = new LlamaServerRunner({ path, parallel: 1, contextSize: 2048, threads: { decode: 1, prompt: 1 }, name: "stories-qwen" }, { binary: await testLlamaServer() });
  await runner.start();
  return runner;
});
