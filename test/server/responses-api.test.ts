/**
 * POST /v1/responses through the `openai` client (`responses.create`, `responses.stream`),
 * on stories260K with a Hermes-style template (an untrained model: calls are forced,
 * JSON is held to a schema; the shape of every answer and event is what is checked),
 * on both engines.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ajv } from "ajv";
import OpenAI from "openai";
import { writeTemplatedStories } from "../engine/templated-model.js";
import { assertValidCalls, TRIP_TOOL, WEATHER_TOOL } from "../engine/tool-calling-contract.js";
import { HERMES_TEMPLATE } from "../engine/tool-templates.js";
import { testLlamaServer } from "../helpers.js";
import { startGateway, storiesModel, type GatewayFixture } from "./gateway-fixture.js";

const weather: OpenAI.Responses.FunctionTool = { type: "function", name: WEATHER_TOOL.name, parameters: WEATHER_TOOL.parameters!, strict: true };
const trip: OpenAI.Responses.FunctionTool = { type: "function", name: TRIP_TOOL.name, parameters: TRIP_TOOL.parameters!, strict: true };

async function post(url: string, body: unknown) {
  const response = await fetch(url, { method: "POST", body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as any };
}

for (const backend of ["node-llama-cpp", "llama-server"] as const) describe(`Responses API through the official client (${backend})`, () => {
  let fixture: GatewayFixture;
  let client: OpenAI;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-responses-"));
    const hermes = await writeTemplatedStories(dir, HERMES_TEMPLATE, {}, "hermes.gguf");
    fixture = await startGateway({
      models: [storiesModel({ name: "hermes", ref: hermes, contextSize: 1024, parallel: 2 })],
      server: { responses_store_entries: 3 },
      config: { engine: backend === "llama-server" ? { backend, llama_server: await testLlamaServer() } : { backend } },
    });
    client = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    await fixture?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers a string input with instructions as chat does, with usage and the token limit's status", async () => {
    const response = await client.responses.create({ model: "hermes", instructions: "Tell a story.", input: "Once upon a time", max_output_tokens: 12, temperature: 0 });
    assert.match(response.id, /^resp_/);
    assert.equal(response.object, "response");
    assert.equal(response.status, "incomplete");
    assert.deepEqual(response.incomplete_details, { reason: "max_output_tokens" });
    assert.equal(response.output.length, 1);
    const message = response.output[0] as OpenAI.Responses.ResponseOutputMessage;
    assert.equal(message.type, "message");
    assert.equal(message.role, "assistant");
    assert.equal(response.usage!.output_tokens, 12);
    const chat = await client.chat.completions.create({
      model: "hermes",
      messages: [
        { role: "system", content: "Tell a story." },
        { role: "user", content: "Once upon a time" },
      ],
      max_tokens: 12,
      temperature: 0,
    });
    assert.equal(response.output_text, chat.choices[0]!.message.content);
    assert.equal(response.usage!.input_tokens, chat.usage!.prompt_tokens);
  });

  it("streams the typed event sequence the client's stream helper assembles into the same response", async () => {
    const params = { model: "hermes", input: [{ role: "user" as const, content: [{ type: "input_text" as const, text: "Once upon a time" }] }], max_output_tokens: 10, temperature: 0 };
    const whole = await client.responses.create(params);
    const types: string[] = [];
    let deltas = "";
    const stream = client.responses.stream(params);
    stream.on("event", (event) => types.push(event.type));
    stream.on("response.output_text.delta", (event) => (deltas += event.delta));
    const final = await stream.finalResponse();
    assert.equal(final.output_text, whole.output_text);
    assert.equal(deltas, whole.output_text);
    assert.equal(final.id === whole.id, false);
    assert.deepEqual(types.slice(0, 4), ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    assert.deepEqual(types.slice(-4), ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"]);
    assert.ok(types.filter((t) => t === "response.output_text.delta").length >= 1);
  });

  it("holds the output to a JSON schema (text.format)", async () => {
    const schema = { type: "object", properties: { mood: { enum: ["glad", "sad"] }, score: { type: "integer" } }, required: ["mood", "score"], additionalProperties: false };
    const response = await client.responses.create({
      model: "hermes",
      input: "Rate the day.",
      text: { format: { type: "json_schema", name: "rating", schema, strict: true } },
      temperature: 1,
      seed: 5,
    } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    assert.equal(response.status, "completed");
    assert.ok(new Ajv().validate(schema, JSON.parse(response.output_text)), response.output_text);
  });

  it("calls functions, takes function_call_output back with previous_response_id, and continues", async () => {
    const first = await client.responses.create({ model: "hermes", input: "Weather in Oslo?", tools: [weather, trip], tool_choice: "required", parallel_tool_calls: false });
    assert.equal(first.status, "completed");
    const calls = first.output.filter((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === "function_call");
    assert.equal(calls.length, 1);
    assert.match(calls[0]!.call_id, /^call_/);
    assertValidCalls(calls.map((c) => ({ name: c.name, arguments: c.arguments })), "responses");
    const next = await client.responses.create({
      model: "hermes",
      previous_response_id: first.id,
      input: [{ type: "function_call_output", call_id: calls[0]!.call_id, output: "sunny, 21 C" }],
      tools: [weather, trip],
      max_output_tokens: 6,
      temperature: 0,
    });
    assert.equal(next.previous_response_id, first.id);
    assert.ok(next.usage!.input_tokens > first.usage!.input_tokens, "the conversation grew by the call and its result");
    // The same conversation sent as items gives the same prompt.
    const asItems = await client.responses.create({
      model: "hermes",
      input: [
        { role: "user", content: "Weather in Oslo?" },
        { type: "function_call", call_id: calls[0]!.call_id, name: calls[0]!.name, arguments: calls[0]!.arguments },
        { type: "function_call_output", call_id: calls[0]!.call_id, output: "sunny, 21 C" },
      ],
      tools: [weather, trip],
      max_output_tokens: 6,
      temperature: 0,
    });
    assert.equal(asItems.usage!.input_tokens, next.usage!.input_tokens);
    assert.equal(asItems.output_text, next.output_text);
  });

  it("streams a function call as output_item and function_call_arguments events", async () => {
    const stream = client.responses.stream({ model: "hermes", input: "Weather?", tools: [weather], tool_choice: { type: "function", name: "get_weather" }, parallel_tool_calls: false });
    let argumentsDone = "";
    stream.on("response.function_call_arguments.done", (event) => (argumentsDone = event.arguments));
    const final = await stream.finalResponse();
    const call = final.output.find((o) => o.type === "function_call") as OpenAI.Responses.ResponseFunctionToolCall;
    assert.equal(call.name, "get_weather");
    assert.equal(call.arguments, argumentsDone);
    assertValidCalls([{ name: call.name, arguments: call.arguments }], "streamed call");
    assert.equal(final.status, "completed");
  });

  it("keeps at most server.responses_store_entries responses, and nothing with store: false", async () => {
    const url = `${fixture.url}/v1/responses`;
    const make = async (store?: boolean) => (await post(url, { model: "hermes", input: "Hi", max_output_tokens: 2, ...(store === undefined ? {} : { store }) })).json.id as string;
    const unstored = await make(false);
    const ids = [await make(), await make(), await make(), await make()];
    const follow = (id: string) => post(url, { model: "hermes", previous_response_id: id, input: "And?", max_output_tokens: 2 });
    const gone = await follow(ids[0]!);
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error.code, "response_not_found");
    assert.equal(gone.json.error.param, "previous_response_id");
    assert.equal((await follow(unstored)).status, 404);
    assert.equal((await follow(ids[3]!)).status, 200);
  });

  it("refuses what it cannot honour with 400 naming the field", async () => {
    const url = `${fixture.url}/v1/responses`;
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ reasoning: { effort: "low" } }, "reasoning", "unsupported"],
      [{ input: [{ role: "user", content: [{ type: "input_image", image_url: "x" }] }] }, "input[0].content[0]", "unsupported"],
      [{ input: [{ type: "item_reference", id: "x" }] }, "input[0].type", "unsupported"],
      [{ tools: [{ type: "web_search" }] }, "tools[0].type", "unsupported"],
      [{ max_output_tokens: 0 }, "max_output_tokens", "invalid_request"],
      [{ input: [] }, "input", "invalid_request"],
    ];
    for (const [fields, param, code] of cases) {
      const r = await post(url, { model: "hermes", input: "Hi", ...fields });
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.equal(r.json.error.param, param, JSON.stringify(r.json));
      assert.equal(r.json.error.code, code, JSON.stringify(r.json));
    }
  });
});
