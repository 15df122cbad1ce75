/**
 * Tool calling through the gateway with the real clients (`openai`, `ollama`):
 * stories260K with a Hermes-style template ("hermes"), with a Llama 3-style one
 * ("llama3"), and without a template ("stories", the generic syntax). The model is
 * untrained, so calls are forced (tool_choice required or named), or — for
 * clients without tool_choice — its output is held to a call's JSON shape by
 * `format`/`response_format`, which in the Llama 3 syntax is a call.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { writeTemplatedStories } from "../engine/templated-model.js";
import { assertValidCalls, PING_TOOL, TRIP_TOOL, WEATHER_TOOL } from "../engine/tool-calling-contract.js";
import { HERMES_TEMPLATE, LLAMA3_TEMPLATE } from "../engine/tool-templates.js";
import { testLlamaServer } from "../helpers.js";
import { startGateway, storiesModel, type GatewayFixture } from "./gateway-fixture.js";

const weather: OpenAI.ChatCompletionFunctionTool = { type: "function", function: { name: WEATHER_TOOL.name, parameters: WEATHER_TOOL.parameters! } };
const trip: OpenAI.ChatCompletionFunctionTool = {
  type: "function",
  function: { name: TRIP_TOOL.name, description: TRIP_TOOL.description!, parameters: TRIP_TOOL.parameters! },
};
const ask: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Weather in Oslo?" }];

/** A Llama 3 call of get_weather as a JSON schema (what `format` holds the output to). */
const weatherCallShape = {
  type: "object",
  properties: { name: { const: "get_weather" }, parameters: WEATHER_TOOL.parameters },
  required: ["name", "parameters"],
  additionalProperties: false,
};

function callsOf(message: OpenAI.ChatCompletionMessage) {
  return (message.tool_calls ?? []).map((c) => {
    assert.equal(c.type, "function");
    const fn = (c as OpenAI.ChatCompletionMessageFunctionToolCall).function;
    return { name: fn.name, arguments: fn.arguments };
  });
}

for (const backend of ["node-llama-cpp", "llama-server"] as const) describe(`tool calling through the gateway (${backend})`, () => {
  let fixture: GatewayFixture;
  let client: OpenAI;
  let ollama: Ollama;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-tools-api-"));
    const hermes = await writeTemplatedStories(dir, HERMES_TEMPLATE, {}, "hermes.gguf");
    const llama3 = await writeTemplatedStories(dir, LLAMA3_TEMPLATE, {}, "llama3.gguf");
    fixture = await startGateway({
      models: [
        storiesModel({ name: "hermes", ref: hermes, contextSize: 1024, parallel: 2 }),
        storiesModel({ name: "llama3", ref: llama3, contextSize: 1024, parallel: 2 }),
        storiesModel({ contextSize: 1024, parallel: 2 }),
      ],
      config: { engine: backend === "llama-server" ? { backend, llama_server: await testLlamaServer() } : { backend } },
    });
    client = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
    ollama = new Ollama({ host: fixture.url });
  });
  after(async () => {
    await fixture?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers a required call with message.tool_calls and finish_reason tool_calls, on every syntax", async () => {
    for (const model of ["hermes", "llama3", "stories"]) {
      const response = await client.chat.completions.create({ model, messages: ask, tools: [weather, trip], tool_choice: "required", parallel_tool_calls: false, seed: 1 });
      const choice = response.choices[0]!;
      assert.equal(choice.finish_reason, "tool_calls", `${model}: ${JSON.stringify(choice.message)}`);
      assert.equal(choice.message.content, null);
      assert.match(choice.message.tool_calls![0]!.id, /^call_/);
      assertValidCalls(callsOf(choice.message), model);
      assert.ok(response.usage!.completion_tokens > 5);
    }
  });

  it("cuts a parallel turn at max_tokens into the calls written in full, never raw call markup", async () => {
    const ping: OpenAI.ChatCompletionFunctionTool = { type: "function", function: { name: PING_TOOL.name, parameters: PING_TOOL.parameters! } };
    const body = { model: "hermes", messages: ask, tools: [ping], tool_choice: { type: "function" as const, function: { name: "t" } }, temperature: 1 };
    const one = await client.chat.completions.create({ ...body, parallel_tool_calls: false, seed: 0 });
    const perCall = one.usage!.completion_tokens;
    let cut = 0;
    for (let seed = 0; seed < 20 && cut < 2; seed++) {
      const response = await client.chat.completions.create({ ...body, max_tokens: 2 * perCall - 2, seed });
      const choice = response.choices[0]!;
      assert.ok(!(choice.message.content ?? "").includes("<tool_call>"), `seed ${seed}: markup as content: ${choice.message.content}`);
      assert.ok((choice.message.tool_calls?.length ?? 0) >= 1, `seed ${seed}: ${JSON.stringify(choice)}`);
      assertValidCalls(callsOf(choice.message), `seed ${seed}`);
      if (choice.finish_reason === "length") cut++;
      else assert.equal(choice.finish_reason, "tool_calls");
    }
    assert.ok(cut > 0, "some turn began a second call and was cut in it");
  });

  it("streams calls as delta.tool_calls the client's stream helper assembles into the same call", async () => {
    const body = { model: "hermes", messages: ask, tools: [weather, trip], tool_choice: { type: "function" as const, function: { name: "book_trip" } }, parallel_tool_calls: false, temperature: 0 };
    const whole = await client.chat.completions.create(body);
    const done: string[] = [];
    const stream = client.chat.completions.stream(body);
    stream.on("tool_calls.function.arguments.done", (event) => done.push(`${event.name} ${event.arguments}`));
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices[0]!.finish_reason, "tool_calls");
    assert.deepEqual(callsOf(final.choices[0]!.message), callsOf(whole.choices[0]!.message));
    assert.deepEqual(done, callsOf(whole.choices[0]!.message).map((c) => `${c.name} ${c.arguments}`));
    // The raw chunks: id, type and name first, then argument fragments, then the finish reason.
    const raw = await fetch(`${fixture.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ ...body, stream: true }) });
    const events = (await raw.text()).split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)));
    const deltas = events.flatMap((e) => e.choices.flatMap((c: any) => c.delta.tool_calls ?? []));
    assert.deepEqual(Object.keys(deltas[0]).sort(), ["function", "id", "index", "type"]);
    assert.equal(deltas[0].function.name, "book_trip");
    assert.equal(deltas[0].function.arguments, "");
    assert.ok(deltas.length >= 2, "the arguments follow the name");
    for (const d of deltas.slice(1)) assert.deepEqual(Object.keys(d).sort(), ["function", "index"]);
    assert.equal(deltas.map((d) => d.function.arguments).join(""), callsOf(whole.choices[0]!.message)[0]!.arguments);
    assert.equal(events.at(-1).choices[0].finish_reason, "tool_calls");
  });

  it("runs the client's runTools loop: the function is called with the parsed arguments, and the model continues", async () => {
    const seen: unknown[] = [];
    const runner = client.chat.completions.runTools({
      model: "hermes",
      messages: ask,
      tool_choice: { type: "function", function: { name: "get_weather" } },
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "Weather in a city",
            parameters: WEATHER_TOOL.parameters!,
            parse: JSON.parse,
            function: (args: unknown) => {
              seen.push(args);
              return "sunny, 21 C";
            },
          },
        },
      ],
      parallel_tool_calls: false,
      seed: 3,
    });
    await runner.done();
    assert.equal(seen.length, 1);
    assertValidCalls([{ name: "get_weather", arguments: JSON.stringify(seen[0]) }], "runTools");
    const history = runner.messages;
    assert.equal(history.at(-1)!.role, "tool");
    // The model's next turn, with the call and its result in the conversation.
    const next = await client.chat.completions.create({ model: "hermes", messages: history, tools: [weather], max_tokens: 8, temperature: 0 });
    assert.equal(next.choices[0]!.finish_reason, "length");
    assert.ok(next.usage!.prompt_tokens > 200, "the prompt holds the tools, the call and its result");
    const again = await client.chat.completions.create({ model: "hermes", messages: history, tools: [weather], tool_choice: "required", parallel_tool_calls: false });
    assertValidCalls(callsOf(again.choices[0]!.message), "second call");
  });

  it("reads a Llama 3 model's JSON answer as a call under tool_choice auto", async () => {
    const response = await client.chat.completions.create({
      model: "llama3",
      messages: ask,
      tools: [weather],
      response_format: { type: "json_schema", json_schema: { name: "call", schema: weatherCallShape } },
      seed: 2,
    });
    assert.equal(response.choices[0]!.finish_reason, "tool_calls", JSON.stringify(response.choices[0]));
    assertValidCalls(callsOf(response.choices[0]!.message), "llama3 auto");
  });

  it("answers Ollama's /api/chat with message.tool_calls (arguments as an object), streamed or not, and takes them back", async () => {
    const request = { model: "llama3", messages: [{ role: "user", content: "Weather in Oslo?" }], tools: [weather], format: weatherCallShape, options: { seed: 4 } };
    const whole = await ollama.chat({ ...request, stream: false });
    assert.equal(whole.done_reason, "stop");
    const calls = whole.message.tool_calls!;
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.function.name, "get_weather");
    assert.equal(typeof calls[0]!.function.arguments, "object");
    assertValidCalls([{ name: "get_weather", arguments: JSON.stringify(calls[0]!.function.arguments) }], "ollama");
    const parts = [];
    for await (const part of await ollama.chat({ ...request, stream: true })) parts.push(part);
    const streamed = parts.flatMap((p) => p.message.tool_calls ?? []);
    assert.deepEqual(streamed.map((c) => c.function), calls.map((c) => c.function));
    assert.equal(parts.at(-1)!.done, true);
    const next = await ollama.chat({
      model: "llama3",
      messages: [...request.messages, whole.message, { role: "tool", content: "sunny, 21 C", tool_name: "get_weather" }],
      tools: [weather],
      options: { num_predict: 5, temperature: 0 },
    });
    assert.equal(next.done_reason, "length");
    assert.ok(next.prompt_eval_count! > 100);
  });

  it("refuses bad tool requests with 400 naming the field", async () => {
    const url = `${fixture.url}/v1/chat/completions`;
    const good = { model: "hermes", messages: ask, max_tokens: 2 };
    const cases: Array<[unknown, string, string]> = [
      [{ ...good, tools: [{ type: "function", function: { name: "has space" } }] }, "tools[0].function.name", "invalid_request"],
      [{ ...good, tools: [{ type: "custom", custom: { name: "f" } }] }, "tools[0].type", "unsupported"],
      [{ ...good, tools: [weather], tool_choice: { type: "function", function: { name: "other" } } }, "tool_choice", "invalid_request"],
      [{ ...good, tool_choice: "required" }, "tool_choice", "invalid_request"],
      [{ ...good, tools: [weather], tool_choice: "sometimes" }, "tool_choice", "invalid_request"],
      [{ ...good, tools: [weather], tool_choice: "required", response_format: { type: "json_object" } }, "response_format", "invalid_request"],
      [{ ...good, functions: [{ name: "f" }] }, "functions", "unsupported"],
      [{ ...good, messages: [{ role: "assistant", tool_calls: [{ id: "x", type: "function", function: { name: "f" } }] }] }, "messages[0].tool_calls[0].function.arguments", "invalid_request"],
    ];
    for (const [body, param, code] of cases) {
      const response = await fetch(url, { method: "POST", body: JSON.stringify(body) });
      const json = (await response.json()) as any;
      assert.equal(response.status, 400, JSON.stringify(json));
      assert.equal(json.error.param, param, JSON.stringify(json));
      assert.equal(json.error.code, code, JSON.stringify(json));
    }
    const ollamaBad = await fetch(`${fixture.url}/api/chat`, { method: "POST", body: JSON.stringify({ model: "hermes", messages: ask, tools: [{ type: "web" , function: { name: "f" } }] }) });
    assert.equal(ollamaBad.status, 400);
    assert.match(((await ollamaBad.json()) as any).error, /only function tools/);
  });
});
