/**
 * The agent frameworks people point at a local server, against a real gateway:
 * the Vercel AI SDK (`ai` with `@ai-sdk/openai`, chat completions and the
 * Responses API) and LangChain (`@langchain/openai`'s ChatOpenAI and
 * `@langchain/ollama`'s ChatOllama), on both engines. Text on
 * stories260K ("stories"); tool calls on stories260K carrying a Hermes-style
 * tool template ("hermes") — the model is untrained, so calls are forced
 * (`required`), and the gateway's grammar holds them to the tool's schema. The
 * frameworks leave parallel_tool_calls at its default (up to 8 calls a turn),
 * and stories260K's tokens are a few characters each: 8 Hermes calls need the
 * model's whole 2,048-token context.
 * Each answer is checked against what the `openai` client gets for the same
 * request, so a framework that misreads a field fails here.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { tool as langchainTool } from "@langchain/core/tools";
import { ChatOllama } from "@langchain/ollama";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, streamText, tool } from "ai";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { z } from "zod";
import { writeTemplatedStories } from "../engine/templated-model.js";
import { HERMES_TEMPLATE, LLAMA3_TEMPLATE } from "../engine/tool-templates.js";
import { testLlamaServer } from "../helpers.js";
import { startGateway, storiesModel, type GatewayFixture } from "./gateway-fixture.js";

const PROMPT = "Tell me a story.";
const weatherInput = z.object({ city: z.string().max(6) }).strict();
const tripInput = z.object({ city: z.enum(["Oslo", "Lima", "Pune"]), nights: z.number().int().min(0) }).strict();

for (const backend of ["node-llama-cpp", "llama-server"] as const) describe(`agent frameworks against the gateway (${backend})`, () => {
  let fixture: GatewayFixture;
  let dir: string;
  let openai: OpenAI;
  // llama-server writes stories260K's tokens faster than one read of its stream: a longer answer spans several reads.
  const STREAM_TOKENS = backend === "llama-server" ? 256 : 24;
  /** What the openai client gets for PROMPT at temperature 0 and `maxTokens`. */
  let reference: (maxTokens: number) => Promise<OpenAI.ChatCompletion>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-frameworks-"));
    const hermes = await writeTemplatedStories(dir, HERMES_TEMPLATE, {}, "hermes.gguf");
    const llama3 = await writeTemplatedStories(dir, LLAMA3_TEMPLATE, {}, "llama3.gguf");
    fixture = await startGateway({
      models: [
        storiesModel({ parallel: 2 }),
        storiesModel({ name: "hermes", ref: hermes, contextSize: 2048, parallel: 2 }),
        storiesModel({ name: "llama3", ref: llama3, contextSize: 1024, parallel: 1 }),
      ],
      config: { engine: backend === "llama-server" ? { backend, llama_server: await testLlamaServer() } : { backend } },
    });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
    reference = (maxTokens) =>
      openai.chat.completions.create({ model: "stories", messages: [{ role: "user", content: PROMPT }], max_tokens: maxTokens, temperature: 0 });
  });
  after(async () => {
    await fixture?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("Vercel AI SDK (ai + @ai-sdk/openai)", () => {
    const provider = () => createOpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused" });

    it("generateText over chat completions: the same text, usage and finish reason as the openai client", async () => {
      const expected = await reference(16);
      const result = await generateText({ model: provider().chat("stories"), prompt: PROMPT, maxOutputTokens: 16, temperature: 0, maxRetries: 0 });
      assert.equal(result.text, expected.choices[0]!.message.content);
      assert.equal(result.finishReason, "length");
      assert.equal(result.usage.outputTokens, 16);
      assert.equal(result.usage.inputTokens, expected.usage!.prompt_tokens);
    });

    it("generateText over the Responses API (the provider's default model)", async () => {
      const expected = await reference(16);
      const result = await generateText({ model: provider()("stories"), prompt: PROMPT, maxOutputTokens: 16, temperature: 0, maxRetries: 0 });
      assert.equal(result.text, expected.choices[0]!.message.content);
      assert.equal(result.usage.outputTokens, 16);
    });

    it("streamText: several text deltas that join into the whole text", async () => {
      const expected = await reference(STREAM_TOKENS);
      const errors: unknown[] = [];
      const result = streamText({
        model: provider().chat("stories"),
        prompt: PROMPT,
        maxOutputTokens: STREAM_TOKENS,
        temperature: 0,
        maxRetries: 0,
        onError: ({ error }) => void errors.push(error),
      });
      const deltas: string[] = [];
      for await (const delta of result.textStream) deltas.push(delta);
      assert.deepEqual(errors, []);
      assert.ok(deltas.length > 1, `one delta only: ${JSON.stringify(deltas)}`);
      assert.equal(deltas.join(""), expected.choices[0]!.message.content);
      assert.equal(await result.finishReason, "length");
      assert.equal((await result.usage).outputTokens, STREAM_TOKENS);
    });

    it("tools with zod schemas and toolChoice required: a call whose input parses with its schema", async () => {
      const tools = {
        get_weather: tool({ description: "Weather in a city", inputSchema: weatherInput }),
        book_trip: tool({ description: "Book a trip", inputSchema: tripInput }),
      };
      const result = await generateText({ model: provider().chat("hermes"), prompt: "Weather in Oslo?", tools, toolChoice: "required", seed: 1, maxRetries: 0 });
      assert.equal(result.finishReason, "tool-calls");
      assert.ok(result.toolCalls.length >= 1, JSON.stringify(result.response.messages));
      for (const call of result.toolCalls) {
        assert.match(call.toolCallId, /^call_/);
        const schema = call.toolName === "get_weather" ? weatherInput : call.toolName === "book_trip" ? tripInput : undefined;
        assert.ok(schema, `unknown tool ${call.toolName}`);
        schema.parse(call.input);
      }
      // A named tool: that one is called.
      const named = await generateText({
        model: provider().chat("hermes"),
        prompt: "Book me a trip.",
        tools,
        toolChoice: { type: "tool", toolName: "book_trip" },
        maxRetries: 0,
      });
      // Parallel calls are the default: up to 8, each of the named tool.
      assert.ok(named.toolCalls.length >= 1 && named.toolCalls.length <= 8, `${named.toolCalls.length} calls`);
      for (const call of named.toolCalls) {
        assert.equal(call.toolName, "book_trip");
        tripInput.parse(call.input);
      }
    });

    it("streamText with tools: the stream's tool-call parts carry the same call as generateText", async () => {
      const tools = { book_trip: tool({ description: "Book a trip", inputSchema: tripInput }) };
      const request = { prompt: "Book me a trip.", tools, toolChoice: "required" as const, temperature: 0, maxRetries: 0 };
      const whole = await generateText({ model: provider().chat("hermes"), ...request });
      const errors: unknown[] = [];
      const result = streamText({ model: provider().chat("hermes"), ...request, onError: ({ error }) => void errors.push(error) });
      const calls: Array<{ toolName: string; input: unknown }> = [];
      let inputDeltas = 0;
      for await (const part of result.fullStream) {
        if (part.type === "tool-call") calls.push({ toolName: part.toolName, input: part.input });
        if (part.type === "tool-input-delta") inputDeltas++;
      }
      assert.deepEqual(errors, []);
      assert.ok(inputDeltas >= 1, "the arguments stream as input deltas");
      assert.deepEqual(
        calls,
        whole.toolCalls.map((c) => ({ toolName: c.toolName, input: c.input })),
      );
      assert.equal(await result.finishReason, "tool-calls");
    });
  });

  describe("LangChain (@langchain/openai ChatOpenAI)", () => {
    const chat = (model: string, options: { maxTokens?: number; temperature?: number } = {}) =>
      new ChatOpenAI({ model, apiKey: "unused", configuration: { baseURL: `${fixture.url}/v1` }, maxRetries: 0, temperature: 0, ...options });

    it("invoke: the same text and token usage as the openai client", async () => {
      const expected = await reference(16);
      const message = await chat("stories", { maxTokens: 16 }).invoke(PROMPT);
      assert.equal(message.content, expected.choices[0]!.message.content);
      assert.equal(message.usage_metadata?.output_tokens, 16);
      assert.equal(message.usage_metadata?.input_tokens, expected.usage!.prompt_tokens);
      assert.equal(message.response_metadata.finish_reason, "length");
    });

    it("stream: several chunks that join into the whole text", async () => {
      const expected = await reference(STREAM_TOKENS);
      const chunks: string[] = [];
      for await (const chunk of await chat("stories", { maxTokens: STREAM_TOKENS }).stream(PROMPT)) {
        assert.equal(typeof chunk.content, "string");
        chunks.push(chunk.content as string);
      }
      assert.ok(chunks.filter((c) => c.length > 0).length > 1, `one chunk only: ${JSON.stringify(chunks)}`);
      assert.equal(chunks.join(""), expected.choices[0]!.message.content);
    });

    it("bindTools(...).invoke: tool_calls with parsed args that match the tool's schema", async () => {
      const getWeather = langchainTool(async ({ city }) => `sunny in ${city}`, { name: "get_weather", description: "Weather in a city", schema: weatherInput });
      const bookTrip = langchainTool(async () => "booked", { name: "book_trip", description: "Book a trip", schema: tripInput });
      const model = chat("hermes").bindTools([getWeather, bookTrip], { tool_choice: "required" });
      const message = await model.invoke("Weather in Oslo?");
      assert.ok(message.tool_calls && message.tool_calls.length >= 1, JSON.stringify(message));
      assert.deepEqual(message.invalid_tool_calls ?? [], []);
      for (const call of message.tool_calls) {
        assert.match(call.id ?? "", /^call_/);
        const schema = call.name === "get_weather" ? weatherInput : call.name === "book_trip" ? tripInput : undefined;
        assert.ok(schema, `unknown tool ${call.name}`);
        schema.parse(call.args);
      }
      assert.equal(message.response_metadata.finish_reason, "tool_calls");
      // The tool runs on the parsed call, and its answer goes back as a ToolMessage the gateway accepts.
      const first = message.tool_calls[0]!;
      const answer = first.name === "get_weather" ? await getWeather.invoke(first) : await bookTrip.invoke(first);
      assert.equal(answer.tool_call_id, first.id);
      const next = await chat("hermes", { maxTokens: 8 }).invoke([["user", "Weather in Oslo?"], message, answer]);
      assert.equal(typeof next.content, "string");
      assert.ok((next.content as string).length > 0);
    });
  });

  describe("LangChain (@langchain/ollama ChatOllama)", () => {
    const chat = (model: string, options: { numPredict?: number; format?: Record<string, unknown> } = {}) =>
      new ChatOllama({ model, baseUrl: fixture.url, temperature: 0, ...options });
    const ollamaReference = (numPredict: number) =>
      new Ollama({ host: fixture.url }).chat({ model: "stories", messages: [{ role: "user", content: PROMPT }], options: { temperature: 0, num_predict: numPredict } });

    it("invoke: the same text and token counts as the ollama client", async () => {
      const expected = await ollamaReference(16);
      const message = await chat("stories", { numPredict: 16 }).invoke(PROMPT);
      assert.equal(message.content, expected.message.content);
      assert.equal(message.usage_metadata?.output_tokens, expected.eval_count);
      assert.equal(message.usage_metadata?.input_tokens, expected.prompt_eval_count);
    });

    it("stream: several chunks that join into the whole text", async () => {
      const expected = await ollamaReference(STREAM_TOKENS);
      const chunks: string[] = [];
      for await (const chunk of await chat("stories", { numPredict: STREAM_TOKENS }).stream(PROMPT)) chunks.push(chunk.content as string);
      assert.ok(chunks.filter((c) => c.length > 0).length > 1, `one chunk only: ${JSON.stringify(chunks)}`);
      assert.equal(chunks.join(""), expected.message.content);
    });

    it("bindTools(...).invoke: a call with parsed args (Llama 3 syntax, its output held to a call's shape by format)", async () => {
      const getWeather = langchainTool(async ({ city }) => `sunny in ${city}`, { name: "get_weather", description: "Weather in a city", schema: weatherInput });
      // Ollama has no tool_choice: `format` holds the untrained model to a call's JSON, which in this syntax is a call.
      const callShape = {
        type: "object",
        properties: { name: { const: "get_weather" }, parameters: { type: "object", properties: { city: { type: "string", maxLength: 6 } }, required: ["city"], additionalProperties: false } },
        required: ["name", "parameters"],
        additionalProperties: false,
      };
      const message = await chat("llama3", { format: callShape }).bindTools([getWeather]).invoke("Weather in Oslo?");
      assert.equal(message.tool_calls?.length, 1, JSON.stringify(message));
      assert.equal(message.tool_calls![0]!.name, "get_weather");
      weatherInput.parse(message.tool_calls![0]!.args);
      const answer = await getWeather.invoke(message.tool_calls![0]!);
      const next = await chat("llama3", { numPredict: 8 }).invoke([["user", "Weather in Oslo?"], message, answer]);
      assert.equal(typeof next.content, "string");
    });
  });
});
