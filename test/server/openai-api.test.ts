import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import type { ModelPool } from "../../src/scheduler/model-pool.js";
import { endOf, startGateway, storiesModel, waitFor, type GatewayFixture } from "./gateway-fixture.js";

/** POSTs raw JSON (or text) and returns status, headers and the parsed body. */
async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, json };
}

/** Usage without its cache figures (how much of a prompt was cached differs between two runs). */
/** Wraps `pool.generate` so every stream's result is kept; `generate` is the original, to put back. */
function recordResults(pool: ModelPool): { results: Array<Promise<{ finishReason: string }>>; generate: ModelPool["generate"] } {
  const results: Array<Promise<{ finishReason: string }>> = [];
  const generate = pool.generate.bind(pool);
  pool.generate = async (request, context) => {
    const stream = await generate(request, context);
    results.push(stream.result);
    return stream;
  };
  return { results, generate };
}

function tokenCounts(usage: OpenAI.CompletionUsage | null | undefined) {
  assert.ok(usage, "usage missing");
  return { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.total_tokens };
}

function assertOpenAiError(json: any, param: string | null, code?: string): void {
  assert.equal(typeof json.error?.message, "string", JSON.stringify(json));
  assert.equal(typeof json.error.type, "string");
  assert.equal(json.error.param, param, JSON.stringify(json));
  if (code) assert.equal(json.error.code, code, JSON.stringify(json));
}

describe("OpenAI API through the official client", () => {
  let fixture: GatewayFixture;
  let client: OpenAI;
  before(async () => {
    fixture = await startGateway();
    client = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => fixture?.close());

  it("lists and retrieves models", async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.deepEqual(ids.sort(), ["demo", "stories"]);
    const model = await client.models.retrieve("stories");
    assert.equal(model.id, "stories");
    assert.equal(model.owned_by, "edgelm");
    await assert.rejects(client.models.retrieve("nope"), (e: unknown) => e instanceof OpenAI.NotFoundError);
  });

  it("answers chat completions with usage and a finish reason", async () => {
    const r = await client.chat.completions.create({
      model: "stories",
      messages: [{ role: "user", content: "Tell me a story." }],
      max_tokens: 12,
      temperature: 0,
    });
    assert.equal(r.object, "chat.completion");
    assert.equal(r.model, "stories");
    assert.match(r.id, /^chatcmpl-/);
    const choice = r.choices[0]!;
    assert.equal(choice.message.role, "assistant");
    assert.ok(choice.message.content!.length > 0);
    assert.equal(choice.finish_reason, "length");
    assert.equal(r.usage!.completion_tokens, 12);
    assert.ok(r.usage!.prompt_tokens > 5);
    assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + 12);
    // max_completion_tokens is the newer name of the same limit.
    const r2 = await client.chat.completions.create({ model: "stories", messages: [{ role: "user", content: "Hi" }], max_completion_tokens: 3, temperature: 0 });
    assert.equal(r2.usage!.completion_tokens, 3);
  });

  it("streams chat completions over SSE with the same text, a final chunk and usage", async () => {
    const request = { model: "stories", messages: [{ role: "user" as const, content: "Tell me a story." }], max_tokens: 24, temperature: 0 };
    const whole = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let role: string | undefined;
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, "chat.completion.chunk");
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      role ??= choice.delta.role;
      text += choice.delta.content ?? "";
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    assert.ok(chunks > 5);
    assert.equal(role, "assistant");
    assert.equal(text, whole.choices[0]!.message.content);
    assert.equal(finish, "length");
    assert.equal(usage?.completion_tokens, 24);
  });

  it("ends the raw SSE stream with data: [DONE]", async () => {
    const response = await fetch(`${fixture.url}/v1/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "stories", prompt: "Once upon a time", max_tokens: 4, temperature: 0, stream: true }),
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^text\/event-stream/);
    const body = await response.text();
    assert.ok(body.trimEnd().endsWith("data: [DONE]"), body);
    const events = body.split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)) as OpenAI.Completion);
    const whole = await client.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 4, temperature: 0 });
    assert.equal(events.map((e) => e.choices[0]!.text).join(""), whole.choices[0]!.text);
    assert.equal(events.at(-1)!.choices[0]!.finish_reason, "length");
  });

  it("completes raw prompts, streamed or not, with stop strings and echo", async () => {
    const full = await client.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 30, temperature: 0 });
    assert.equal(full.object, "text_completion");
    const text = full.choices[0]!.text;
    const at = text.indexOf("girl");
    assert.ok(at > 0, text);
    const stopped = await client.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 30, temperature: 0, stop: ["girl"] });
    assert.equal(stopped.choices[0]!.text, text.slice(0, at));
    assert.equal(stopped.choices[0]!.finish_reason, "stop");
    const echoed = await client.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 30, temperature: 0, echo: true });
    assert.equal(echoed.choices[0]!.text, `Once upon a time${text}`);
    const stream = await client.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 30, temperature: 0, stream: true });
    let streamed = "";
    for await (const chunk of stream) streamed += chunk.choices[0]?.text ?? "";
    assert.equal(streamed, text);
  });

  it("is deterministic with a seed, and at temperature 0", async () => {
    const ask = (seed: number, temperature: number) =>
      client.chat.completions.create({ model: "stories", messages: [{ role: "user", content: "Once" }], max_tokens: 40, temperature, seed });
    const [a, b] = await Promise.all([ask(11, 1), ask(11, 1)]);
    assert.equal(a.choices[0]!.message.content, b.choices[0]!.message.content);
    const c = await ask(12, 1);
    assert.notEqual(c.choices[0]!.message.content, a.choices[0]!.message.content);
    const [g1, g2] = await Promise.all([ask(1, 0), ask(2, 0)]);
    assert.equal(g1.choices[0]!.message.content, g2.choices[0]!.message.content);
  });

  it("answers n chat choices, each its own generation: choice i samples with seed + i, usage counts the prompt once", async () => {
    const messages = [{ role: "user" as const, content: "Once" }];
    const ask = (n: number, seed: number) => client.chat.completions.create({ model: "stories", messages, max_tokens: 24, temperature: 1, seed, n });
    const three = await ask(3, 70);
    assert.deepEqual(three.choices.map((c) => c.index), [0, 1, 2]);
    const texts = three.choices.map((c) => c.message.content!);
    assert.ok(texts.every((t) => t.length > 0));
    assert.equal(new Set(texts).size, 3, `the choices should differ: ${JSON.stringify(texts)}`);
    const solos = await Promise.all([70, 71, 72].map((seed) => ask(1, seed)));
    assert.deepEqual(texts, solos.map((r) => r.choices[0]!.message.content));
    assert.deepEqual((await ask(3, 70)).choices.map((c) => c.message.content), texts, "the same seed gives the same choices again");
    for (const choice of three.choices) assert.equal(choice.finish_reason, "length");
    assert.equal(three.usage!.prompt_tokens, solos[0]!.usage!.prompt_tokens);
    assert.equal(three.usage!.completion_tokens, 3 * 24);
    assert.equal(three.usage!.total_tokens, three.usage!.prompt_tokens + 3 * 24);
    assert.equal(fixture.gateway.pool("stories").describe().queue.inFlight, 0);
  });

  it("streams n chat choices interleaved, each chunk naming its choice, with summed usage", async () => {
    const request = { model: "stories", messages: [{ role: "user" as const, content: "Once" }], max_tokens: 24, temperature: 1, seed: 90, n: 3 };
    const whole = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    const texts = ["", "", ""];
    const finishes: Array<string | null> = [null, null, null];
    const roles: string[] = [];
    const order: number[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        assert.ok(choice.index >= 0 && choice.index < 3, `index ${choice.index}`);
        if (choice.delta.role) roles.push(`${choice.index}:${choice.delta.role}`);
        texts[choice.index] += choice.delta.content ?? "";
        if (choice.finish_reason) finishes[choice.index] = choice.finish_reason;
        if (choice.delta.content) order.push(choice.index);
      }
    }
    assert.deepEqual(texts, whole.choices.map((c) => c.message.content));
    assert.deepEqual(finishes, ["length", "length", "length"]);
    assert.deepEqual(roles.sort(), ["0:assistant", "1:assistant", "2:assistant"]);
    // Each choice's chunks leave as the engine makes them; whether they interleave is the engine's scheduling (a busy
    // node-llama-cpp runner can start a sequence only once others end), so only the pieces of every choice are checked.
    assert.deepEqual([...new Set(order)].sort(), [0, 1, 2], "every choice streamed text");
    assert.deepEqual(tokenCounts(usage), tokenCounts(whole.usage));
    // The openai package's own stream helper assembles every choice.
    const helper = client.chat.completions.stream(request);
    const final = await helper.finalChatCompletion();
    assert.deepEqual(final.choices.map((c) => c.message.content), texts);
  });

  it("answers n completions, streamed or not, with echo and logprobs per choice", async () => {
    const request = { model: "stories", prompt: "Once upon a time", max_tokens: 16, temperature: 1, seed: 5, n: 2, echo: true, logprobs: 1 };
    const whole = await client.completions.create(request);
    assert.deepEqual(whole.choices.map((c) => c.index), [0, 1]);
    for (const choice of whole.choices) {
      assert.ok(choice.text.startsWith("Once upon a time"), choice.text);
      assert.equal(choice.logprobs!.tokens!.length, 16);
      assert.equal(choice.logprobs!.tokens!.join(""), choice.text.slice("Once upon a time".length));
    }
    assert.notEqual(whole.choices[0]!.text, whole.choices[1]!.text);
    const solo = await client.completions.create({ ...request, n: 1, seed: 6 });
    assert.equal(whole.choices[1]!.text, solo.choices[0]!.text);
    assert.equal(whole.usage!.completion_tokens, 32);
    assert.equal(whole.usage!.prompt_tokens, solo.usage!.prompt_tokens);
    const stream = await client.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    const texts = ["", ""];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) texts[choice.index] += choice.text;
    }
    assert.deepEqual(texts, whole.choices.map((c) => c.text));
    assert.deepEqual(tokenCounts(usage), tokenCounts(whole.usage));
  });

  it("takes one slot per choice, and a client that goes away stops all n of them", async () => {
    const pool = fixture.gateway.pool("stories");
    const { results, generate } = recordResults(pool);
    const admitted: string[] = [];
    const onAdmitted = (e: { requestId: string }) => admitted.push(e.requestId);
    fixture.gateway.events.on("request:admitted", onAdmitted);
    const ended = endOf(fixture, "openai.chat");
    try {
      const controller = new AbortController();
      // Until the end of text or a full context: with this seed each choice runs for hundreds of tokens, far longer than the client waits.
      const stream = await client.chat.completions.create(
        { model: "stories", messages: [{ role: "user", content: "Once" }], max_tokens: -1 as unknown as number, temperature: 1, seed: 3, n: 4, stream: true },
        { signal: controller.signal },
      );
      // The openai package ends the iteration quietly (or throws an abort error, by version) once aborted.
      try {
        for await (const chunk of stream) {
          if (!controller.signal.aborted && chunk.choices.some((c) => (c.delta.content ?? "").length > 0)) controller.abort();
        }
      } catch (error) {
        assert.ok(error instanceof OpenAI.APIUserAbortError, String(error));
      }
      assert.ok(controller.signal.aborted, "the stream ended before the client went away");
      assert.equal((await ended).status, 499);
      await waitFor(() => pool.describe().queue.inFlight === 0, 3000, "all slots free");
    } finally {
      pool.generate = generate;
      fixture.gateway.events.off("request:admitted", onAdmitted);
    }
    assert.equal(admitted.length, 4, "one slot per choice");
    assert.equal(new Set(admitted).size, 1, "the choices are one request");
    assert.ok(results.length >= 1);
    // Every choice that started was stopped; none ran on to its end.
    const finished = await Promise.all(results);
    assert.deepEqual(finished.map((r) => r.finishReason), results.map(() => "abort"));
    assert.equal(pool.describe().queue.waiting, 0);
  });

  it("enforces a JSON schema by grammar; the output parses and validates", async () => {
    const schema = {
      type: "object",
      properties: {
        name: { type: "string", enum: ["Lily", "Tom", "Ben"] },
        age: { type: "integer" },
        happy: { type: "boolean" },
      },
      required: ["name", "age", "happy"],
      additionalProperties: false,
    };
    for (const model of ["stories", "demo"]) {
      const r = await client.chat.completions.create({
        model,
        messages: [{ role: "user", content: "Describe a child as JSON." }],
        temperature: 0,
        max_tokens: 120,
        response_format: { type: "json_schema", json_schema: { name: "child", schema, strict: true } },
      });
      assert.equal(r.choices[0]!.finish_reason, "stop", r.choices[0]!.message.content!);
      const value = JSON.parse(r.choices[0]!.message.content!) as Record<string, unknown>;
      assert.deepEqual(Object.keys(value).sort(), ["age", "happy", "name"]);
      assert.ok(["Lily", "Tom", "Ben"].includes(value.name as string));
      assert.ok(Number.isInteger(value.age));
      assert.equal(typeof value.happy, "boolean");
    }
    const bad = await post(`${fixture.url}/v1/chat/completions`, {
      model: "stories",
      messages: [{ role: "user", content: "x" }],
      response_format: { type: "xml" },
    });
    assert.equal(bad.status, 400);
    assertOpenAiError(bad.json, "response_format.type");
  });

  it("returns log-probabilities, and honours logit_bias", async () => {
    const r = await client.chat.completions.create({
      model: "stories",
      messages: [{ role: "user", content: "Hi" }],
      max_tokens: 5,
      temperature: 0,
      logprobs: true,
      top_logprobs: 3,
    });
    const content = r.choices[0]!.logprobs!.content!;
    assert.equal(content.length, 5);
    assert.equal(content.map((c) => c.token).join(""), r.choices[0]!.message.content);
    for (const entry of content) {
      assert.ok(entry.logprob <= 0);
      assert.equal(entry.top_logprobs.length, 3);
      assert.equal(entry.top_logprobs[0]!.token, entry.token);
    }
    // A strong bias makes greedy decoding pick that token every time.
    const runner = fixture.gateway.pool("stories").runnerProcesses()[0]!.runner;
    const piece = await runner.detokenize([300]);
    const biased = await client.completions.create({ model: "stories", prompt: "Once", max_tokens: 4, temperature: 0, logit_bias: { "300": 100 } });
    assert.equal(biased.choices[0]!.text.replace(/\s/g, ""), piece.trim().repeat(4));
  });

  it("embeds text (base64 by default in the client, floats on request)", async () => {
    const e = await client.embeddings.create({ model: "stories", input: ["Once upon a time", "a red ball"] });
    assert.equal(e.object, "list");
    assert.equal(e.data.length, 2);
    assert.equal(e.data[1]!.index, 1);
    assert.equal(e.data[0]!.embedding.length, 64);
    assert.ok(Math.abs(Math.hypot(...e.data[0]!.embedding) - 1) < 1e-5);
    assert.ok(e.usage.prompt_tokens > 4);
    const f = await client.embeddings.create({ model: "stories", input: "Once upon a time", encoding_format: "float" });
    assert.equal(f.data.length, 1);
    for (let i = 0; i < 64; i++) assert.ok(Math.abs(f.data[0]!.embedding[i]! - e.data[0]!.embedding[i]!) < 1e-6);
  });

  it("serves 10 concurrent streams, each with its solo result", async () => {
    const prompts = Array.from({ length: 10 }, (_, i) => `Story number ${i}: once`);
    const solo: string[] = [];
    for (const prompt of prompts.slice(0, 3)) {
      solo.push((await client.completions.create({ model: "stories", prompt, max_tokens: 32, temperature: 0 })).choices[0]!.text);
    }
    const admitted = new Set<string>();
    const onAdmitted = (e: { runnerId: string }) => admitted.add(e.runnerId);
    fixture.gateway.events.on("request:admitted", onAdmitted);
    const texts = await Promise.all(
      prompts.map(async (prompt) => {
        const stream = await client.completions.create({ model: "stories", prompt, max_tokens: 32, temperature: 0, stream: true });
        let text = "";
        for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
        return text;
      }),
    );
    fixture.gateway.events.off("request:admitted", onAdmitted);
    assert.deepEqual(texts.slice(0, 3), solo);
    assert.ok(texts.every((t) => t.length > 0));
    assert.equal(fixture.gateway.pool("stories").describe().queue.inFlight, 0);
  });

  it("answers bad input with 400 naming the field, in OpenAI's error shape", async () => {
    const url = `${fixture.url}/v1/chat/completions`;
    const good = { model: "stories", messages: [{ role: "user", content: "Hi" }], max_tokens: 2 };
    const cases: Array<[unknown, number, string | null, string?]> = [
      ["{not json", 400, null],
      ["", 400, null],
      [{ ...good, messages: "Hi" }, 400, "messages"],
      [{ ...good, messages: [] }, 400, "messages"],
      [{ ...good, messages: [{ role: "robot", content: "x" }] }, 400, "messages[0].role"],
      [{ ...good, messages: [{ role: "user", content: 5 }] }, 400, "messages[0].content"],
      [{ ...good, temperature: "hot" }, 400, "temperature"],
      [{ ...good, temperature: 3 }, 400, "temperature"],
      [{ ...good, max_tokens: 0 }, 400, "max_tokens"],
      [{ ...good, max_tokens: -5 }, 400, "max_tokens"],
      [{ ...good, max_tokens: 1.5 }, 400, "max_tokens"],
      [{ ...good, n: 5 }, 400, "n", "invalid_request"],
      [{ ...good, n: 0 }, 400, "n", "invalid_request"],
      [{ ...good, messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }, 400, "messages[0].content[0]", "unsupported"],
      [{ ...good, logit_bias: { "99999": 5 } }, 400, "logit_bias"],
      [{ ...good, top_logprobs: 2 }, 400, "top_logprobs"],
      [{ ...good, model: "nope" }, 404, "model", "model_not_found"],
    ];
    for (const [body, status, param, code] of cases) {
      const r = await post(url, body);
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${JSON.stringify(r.json)}`);
      assertOpenAiError(r.json, param, code);
    }
    const missing = await post(`${fixture.url}/v1/completions`, { model: "stories" });
    assert.equal(missing.status, 400);
    assertOpenAiError(missing.json, "prompt");
    const several = await post(`${fixture.url}/v1/completions`, { model: "stories", prompt: ["a", "b"] });
    assertOpenAiError(several.json, "prompt", "unsupported");
    const emptyInput = await post(`${fixture.url}/v1/embeddings`, { model: "stories", input: [] });
    assert.equal(emptyInput.status, 400);
    const dims = await post(`${fixture.url}/v1/embeddings`, { model: "stories", input: "x", dimensions: 8 });
    assertOpenAiError(dims.json, "dimensions", "unsupported");
  });

  it("refuses a prompt longer than the context with both numbers", async () => {
    const long = "Once upon a time there was a little girl named Lily. ".repeat(60);
    const r = await post(`${fixture.url}/v1/completions`, { model: "stories", prompt: long, max_tokens: 5 });
    assert.equal(r.status, 400);
    assertOpenAiError(r.json, null, "context_length_exceeded");
    assert.match(r.json.error.message, /the prompt is \d{3,} tokens but the context holds 512/);
    await assert.rejects(
      client.chat.completions.create({ model: "stories", messages: [{ role: "user", content: long }] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /context holds 512/.test(e.message),
    );
  });

  it("rejects a body over the limit with 413 and unknown routes with 404", async () => {
    const huge = JSON.stringify({ model: "stories", prompt: "x".repeat(4 * 1024 * 1024 + 10) });
    const r = await post(`${fixture.url}/v1/completions`, huge);
    assert.equal(r.status, 413);
    assertOpenAiError(r.json, null, "payload_too_large");
    assert.match(r.json.error.message, /larger than the limit of 4194304 bytes/);
    const missing = await fetch(`${fixture.url}/v1/nothing`);
    assert.equal(missing.status, 404);
    assertOpenAiError(await missing.json(), null, "route_not_found");
  });
});

describe("n choices when a slot is taken", () => {
  let fixture: GatewayFixture;
  let client: OpenAI;
  before(async () => {
    fixture = await startGateway({ models: [storiesModel({ parallel: 2 })], server: { queue: 0 } });
    client = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => fixture?.close());

  it("refuses the whole request when one choice finds no slot, and stops the choice that had one", async () => {
    const pool = fixture.gateway.pool("stories");
    const controller = new AbortController();
    // One slot of two is busy for seconds (this seed runs to a full context).
    const blocker = await client.chat.completions.create(
      { model: "stories", messages: [{ role: "user", content: "Once" }], max_tokens: -1 as unknown as number, temperature: 1, seed: 3, stream: true },
      { signal: controller.signal },
    );
    const reading = (async () => {
      try {
        for await (const _ of blocker);
      } catch {
        // aborted below
      }
    })();
    await waitFor(() => pool.describe().queue.inFlight === 1, 5000, "the blocking request");
    const { results, generate } = recordResults(pool);
    try {
      for (const stream of [false, true]) {
        await assert.rejects(
          client.chat.completions.create({ model: "stories", messages: [{ role: "user", content: "Hi" }], max_tokens: 200, n: 2, stream }),
          (e: unknown) => e instanceof OpenAI.RateLimitError,
        );
        // The choice that found the free slot gives it back: only the blocker holds one.
        await waitFor(() => pool.describe().queue.inFlight === 1, 3000, "the free slot back");
      }
    } finally {
      pool.generate = generate;
    }
    const finished = await Promise.all(results);
    assert.deepEqual(finished.map((r) => r.finishReason), results.map(() => "abort"));
    assert.equal(pool.describe().queue.inFlight, 1, "the blocker was still generating: the test proved nothing");
    controller.abort();
    await reading;
    await waitFor(() => pool.describe().queue.inFlight === 0, 3000, "all slots free");
  });
});
