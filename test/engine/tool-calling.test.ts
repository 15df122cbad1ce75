import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { ChatTemplate } from "../../src/engine/chat-template.js";
import { parseCompleteToolCalls, parseToolCalls, toolCallGrammar, toolCallSyntaxOf } from "../../src/engine/tool-call-syntax.js";
import { toolCalling } from "../../src/engine/tool-calling.js";
import { PushTokenStream, makeTimings } from "../../src/engine/token-stream.js";
import type { ChatMessage, GeneratedChunk, GenerationResult, ToolDefinition } from "../../src/engine/types.js";
import { isEdgeError } from "../../src/errors.js";
import { CHATML_TEMPLATE } from "./templated-model.js";
import { HERMES_TEMPLATE, LLAMA3_TEMPLATE, MISTRAL_ARGS_TEMPLATE, MISTRAL_TEMPLATE, WEATHER_HISTORY as history, WEATHER_TOOL_DESCRIBED as weather } from "./tool-templates.js";

const templates: ChatTemplate[] = [];
after(async () => Promise.all(templates.map((t) => t.dispose())));

async function template(source: string | undefined): Promise<ChatTemplate> {
  const opened = await ChatTemplate.open(source === undefined ? {} : { "tokenizer.chat_template": source });
  templates.push(opened);
  return opened;
}

function timings() {
  return makeTimings({ startedAt: 0, firstTokenAt: 1, promptDoneAt: 1, endedAt: 2, promptTokens: 3, cachedPromptTokens: 0, completionTokens: 4 });
}

async function run(
  pieces: string[],
  wrap: (s: PushTokenStream) => AsyncIterable<GeneratedChunk> & { result: Promise<GenerationResult> },
  finishReason: GenerationResult["finishReason"] = "stop",
) {
  const inner = new PushTokenStream();
  const stream = wrap(inner);
  for (const text of pieces) inner.push({ text, tokens: [1] });
  inner.end({ text: pieces.join(""), finishReason, timings: timings() });
  let streamed = "";
  for await (const chunk of stream) streamed += chunk.text;
  return { streamed, result: await stream.result };
}

describe("tool-call syntaxes", () => {
  it("are recognised from a template's source", () => {
    assert.equal(toolCallSyntaxOf(HERMES_TEMPLATE), "hermes");
    assert.equal(toolCallSyntaxOf(LLAMA3_TEMPLATE), "llama3");
    assert.equal(toolCallSyntaxOf(MISTRAL_TEMPLATE), "mistral");
    assert.equal(toolCallSyntaxOf(MISTRAL_ARGS_TEMPLATE), "mistral-args");
    assert.equal(toolCallSyntaxOf(CHATML_TEMPLATE), "generic");
    assert.equal(toolCallSyntaxOf(undefined), "generic");
  });

  it("parse each family's calls, and refuse what is not a call", () => {
    const expected = [{ name: "get_weather", arguments: '{"city":"Oslo"}' }];
    assert.deepEqual(parseToolCalls('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>', "hermes"), expected);
    assert.deepEqual(parseToolCalls('<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}', "generic"), expected);
    assert.deepEqual(parseToolCalls('<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}}', "llama3"), expected);
    assert.deepEqual(parseToolCalls('{"name": "get_weather", "parameters": {"city": "Oslo"}}', "llama3"), expected);
    assert.deepEqual(parseToolCalls('[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "a1b2c3d4e"}]', "mistral"), expected);
    assert.deepEqual(parseToolCalls('[{"name": "get_weather", "arguments": {"city": "Oslo"}}]', "mistral"), expected);
    assert.deepEqual(parseToolCalls('[TOOL_CALLS]get_weather[ARGS]{"city": "Oslo"}[TOOL_CALLS]get_weather[ARGS]{"city": "Oslo"}', "mistral-args"), [
      ...expected,
      ...expected,
    ]);
    assert.equal(parseToolCalls('<tool_call>{"name": "get_weather", "arguments": {"city": </tool_call>', "hermes"), undefined);
    assert.equal(parseToolCalls('{"story": "once"}', "llama3"), undefined);
    assert.equal(parseToolCalls("[TOOL_CALLS] not json", "mistral"), undefined);
  });
});

describe("chat templates with tools", async () => {
  it("give a template with tool syntax the tools, past calls and results", async () => {
    const prompt = await (await template(HERMES_TEMPLATE)).render(history, { tools: [weather] });
    assert.equal(prompt.toolSyntax, "hermes");
    assert.match(prompt.text, /<tools>\n\{"type":\s*"function",\s*"function":\s*\{"name":\s*"get_weather"/);
    assert.match(prompt.text, /<tool_call>\n\{"name": "get_weather", "arguments": \{"city":\s*"Oslo"\}\}\n<\/tool_call>/);
    assert.match(prompt.text, /<tool_response>\nsunny, 21 C\n<\/tool_response>/);
    assert.ok(prompt.text.endsWith("<|im_start|>assistant\n"));
    // tool_choice "none": the tools are not offered, the history still renders.
    const none = await (await template(HERMES_TEMPLATE)).render(history, { tools: [weather], toolChoice: "none" });
    assert.doesNotMatch(none.text, /<tools>/);
    assert.match(none.text, /<tool_response>/);
  });

  it("map call ids to the 9 characters Mistral's templates insist on, the same for call and result", async () => {
    const prompt = await (await template(MISTRAL_TEMPLATE)).render(history, { tools: [weather] });
    assert.equal(prompt.toolSyntax, "mistral");
    const ids = [...prompt.text.matchAll(/"(?:id|call_id)": "([^"]+)"/g)].map((m) => m[1]);
    assert.equal(ids.length, 2);
    assert.match(ids[0]!, /^[a-zA-Z0-9]{9}$/);
    assert.equal(ids[0], ids[1]);
    assert.match(prompt.text, /\[AVAILABLE_TOOLS\]/);
    const args = await (await template(MISTRAL_ARGS_TEMPLATE)).render(history, { tools: [weather] });
    assert.match(args.text, /\[TOOL_CALLS\]get_weather\[ARGS\]\{"city":\s*"Oslo"\}/);
  });

  it("write Llama 3 calls with parameters and results as ipython", async () => {
    const prompt = await (await template(LLAMA3_TEMPLATE)).render(history, { tools: [weather] });
    assert.equal(prompt.toolSyntax, "llama3");
    assert.match(prompt.text, /<\|python_tag\|>\{"name": "get_weather", "parameters": \{"city":\s*"Oslo"\}\}/);
    assert.match(prompt.text, /<\|start_header_id\|>ipython<\|end_header_id\|>\n\nsunny, 21 C/);
  });

  it("describe tools in a system message for templates without tool syntax, and for the fallback", async () => {
    for (const source of [CHATML_TEMPLATE, undefined]) {
      const prompt = await (await template(source)).render(history, { tools: [weather], toolChoice: "required" });
      assert.equal(prompt.toolSyntax, "generic");
      assert.match(prompt.text, /Be brief\.\n\nYou can call these functions/);
      assert.match(prompt.text, /"name":"get_weather"/);
      assert.match(prompt.text, /You must call at least one function/);
      assert.match(prompt.text, /<tool_call>\{"name":"get_weather","arguments":\{"city":"Oslo"\}\}<\/tool_call>/);
      assert.match(prompt.text, /<tool_response> get_weather\nsunny, 21 C\n<\/tool_response>/);
    }
  });

  it("fall back to the generic syntax when the model's template refuses the conversation", async () => {
    const two: ChatMessage[] = [
      { role: "user", content: "Both?" },
      {
        role: "assistant",
        content: "",
        toolCalls: [
          { id: "a", name: "get_weather", arguments: "{}" },
          { id: "b", name: "get_weather", arguments: "{}" },
        ],
      },
    ];
    const prompt = await (await template(LLAMA3_TEMPLATE)).render(two, { tools: [weather] });
    assert.equal(prompt.toolSyntax, "generic");
    assert.match(prompt.text, /### Assistant:\n<tool_call>/);
  });
});

describe("toolCalling", () => {
  const chat: ChatMessage[] = [{ role: "user", content: "hi" }];

  it("refuses bad tools before any work, naming the field", () => {
    const bad = (request: Parameters<typeof toolCalling>[0], param: string) =>
      assert.throws(() => toolCalling(request, "hermes"), (e: unknown) => isEdgeError(e) && e.code === "invalid_request" && e.param === param);
    bad({ messages: chat, tools: [{ name: "has space" }] }, "tools[0].function.name");
    bad({ messages: chat, tools: [weather, weather] }, "tools[1].function.name");
    bad({ messages: chat, tools: [weather], toolChoice: { name: "other" } }, "tool_choice");
    bad({ messages: chat, toolChoice: "required" }, "tool_choice");
    bad({ messages: chat, tools: [weather], toolChoice: "required", responseFormat: { type: "json_object" } }, "response_format");
    bad({ messages: chat, tools: [{ name: "f", parameters: { type: "string" } }] }, "tools[0].function.parameters");
    bad({ messages: chat, tools: [{ name: "f", parameters: { type: "object", properties: { a: { $ref: "#/nowhere" } } } }], toolChoice: "required" }, "tools");
    assert.throws(() => toolCalling({ prompt: "x", tools: [weather] }, undefined), (e: unknown) => isEdgeError(e) && e.param === "tools");
  });

  it("constrains only when a call is forced, and leaves tool-less requests alone", () => {
    assert.equal(toolCalling({ messages: chat }, "generic").responseFormat, undefined);
    assert.equal(toolCalling({ messages: chat, tools: [weather] }, "generic").responseFormat, undefined);
    const forced = toolCalling({ messages: chat, tools: [weather], toolChoice: { name: "get_weather" } }, "hermes").responseFormat;
    assert.equal(forced?.type, "grammar");
    assert.match((forced as { gbnf: string }).gbnf, /^root ::= "<tool_call>\\n" call/);
    const inner = new PushTokenStream();
    assert.equal(toolCalling({ messages: chat }, "generic").wrap(inner), inner);
  });

  it("holds back call markup while streaming and returns the calls", async () => {
    const request = { messages: chat, tools: [weather] };
    const { streamed, result } = await run(["Let me look.", "\n<tool", '_call>\n{"name": "get_weather", ', '"arguments": {"city": "Oslo"}}\n</tool_call>'], (s) =>
      toolCalling(request, "hermes").wrap(s),
    );
    assert.equal(streamed, "Let me look.\n");
    assert.equal(result.text, streamed);
    assert.equal(result.finishReason, "tool_calls");
    assert.equal(result.toolCalls?.length, 1);
    assert.equal(result.toolCalls![0]!.name, "get_weather");
    assert.equal(result.toolCalls![0]!.arguments, '{"city":"Oslo"}');
    assert.match(result.toolCalls![0]!.id, /^call_[A-Za-z0-9_-]{24}$/);
  });

  it("releases text that only looked like a call, so the stream and the result agree", async () => {
    const request = { messages: chat, tools: [weather] };
    const text = await run(["The <tool", " box", " is red. <tool_call> not json"], (s) => toolCalling(request, "hermes").wrap(s));
    assert.equal(text.streamed, "The <tool box is red. <tool_call> not json");
    assert.equal(text.result.text, text.streamed);
    assert.equal(text.result.finishReason, "stop");
    assert.equal(text.result.toolCalls, undefined);
    const llama = await run(['{"story"', ': 1}'], (s) => toolCalling(request, "llama3").wrap(s));
    assert.equal(llama.streamed, '{"story": 1}');
    const bare = await run([" ", '{"name": "get_weather", "parameters": {"city": "Oslo"}}'], (s) => toolCalling(request, "llama3").wrap(s));
    assert.equal(bare.result.finishReason, "tool_calls");
  });

  it("returns the calls written in full when the turn was cut short in a later call, never its markup", async () => {
    const request = { messages: chat, tools: [weather] };
    const call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>';
    const cut = await run([call, "\n", call, "\n", '<tool_call>\n{"name": "get_weather", "argu'], (s) => toolCalling(request, "hermes").wrap(s), "length");
    assert.equal(cut.streamed, "");
    assert.equal(cut.result.finishReason, "length", "the client learns the turn was cut");
    assert.deepEqual(cut.result.toolCalls?.map((c) => c.arguments), ['{"city":"Oslo"}', '{"city":"Oslo"}']);
    // Cut inside the first call: nothing complete, and the markup is not passed off as an answer.
    const first = await run(["Checking.", '<tool_call>\n{"name": "get_w'], (s) => toolCalling(request, "hermes").wrap(s), "length");
    assert.equal(first.streamed, "Checking.");
    assert.equal(first.result.text, "Checking.");
    assert.equal(first.result.toolCalls, undefined);
    assert.equal(first.result.finishReason, "length");
    // A stop, not a cut: text that does not parse stays text.
    const stopped = await run([call, '<tool_call>\n{"name": "get_w'], (s) => toolCalling(request, "hermes").wrap(s));
    assert.equal(stopped.result.toolCalls, undefined);
  });

  it("reads the complete calls of a cut turn in every syntax", () => {
    const a = '{"name": "f", "arguments": {"x": "a]}"}}';
    assert.deepEqual(parseCompleteToolCalls(`<tool_call>${a}</tool_call>\n<tool_call>{"na`, "generic"), [{ name: "f", arguments: '{"x":"a]}"}' }]);
    assert.deepEqual(parseCompleteToolCalls(`[TOOL_CALLS][${a}, {"name": "g", "argu`, "mistral"), [{ name: "f", arguments: '{"x":"a]}"}' }]);
    assert.deepEqual(parseCompleteToolCalls('[TOOL_CALLS]f[ARGS]{"x": 1}[TOOL_CALLS]g[AR', "mistral-args"), [{ name: "f", arguments: '{"x":1}' }]);
    assert.equal(parseCompleteToolCalls('{"name": "f", "parameters": {"x', "llama3"), undefined);
    assert.equal(parseCompleteToolCalls("<tool_call>{", "hermes"), undefined);
    assert.equal(parseCompleteToolCalls("[TOOL_CALLS][{", "mistral"), undefined);
  });

  it("keeps one call when parallel calls are off", async () => {
    const request = { messages: chat, tools: [weather], parallelToolCalls: false };
    const call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>';
    const { result } = await run([call, "\n", call], (s) => toolCalling(request, "generic").wrap(s));
    assert.equal(result.toolCalls?.length, 1);
  });

  it("builds grammars for every syntax from nested schemas", () => {
    const tool: ToolDefinition = {
      name: "plan",
      parameters: {
        type: "object",
        properties: {
          steps: { type: "array", items: { $ref: "#/$defs/step" }, minItems: 1, maxItems: 3 },
          note: { type: ["string", "null"], maxLength: 10 },
          mode: { enum: ["fast", "slow"] },
          extra: { type: "object", additionalProperties: { type: "number", minimum: 0 } },
        },
        $defs: { step: { type: "object", properties: { what: { type: "string" }, then: { $ref: "#/$defs/step" } }, required: ["what"] } },
      },
    };
    for (const syntax of ["hermes", "llama3", "mistral", "mistral-args", "generic"] as const) {
      const gbnf = toolCallGrammar([tool, weather], syntax, true);
      assert.match(gbnf, /^root ::= /);
      // Every rule referenced is defined.
      const defined = new Set([...gbnf.matchAll(/^([a-z0-9-]+) ::= /gm)].map((m) => m[1]));
      const bodies = gbnf.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\[(?:[^\]\\]|\\.)*\]/g, "[]");
      for (const [, name] of bodies.matchAll(/(?<![\w-])([a-z][a-z0-9-]*)(?![\w-])/g)) {
        assert.ok(defined.has(name!), `${syntax}: rule ${name} is used but not defined`);
      }
    }
  });
});
