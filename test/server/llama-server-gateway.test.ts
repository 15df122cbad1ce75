/**
 * The gateway on the llama-server backend, chosen the way a user chooses it
 * (config engine.backend + engine.llama_server): both dialects streaming,
 * clients that go away, a runner killed mid-stream, a zero-downtime swap,
 * embeddings and JSON schemas.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import type { LlamaServerRunner } from "../../src/engine/llama-server/llama-server-runner.js";
import { writeSyntheticModel } from "../../src/gguf/synthetic-model.js";
import { parseSyntheticShape } from "../../src/gguf/synthetic-shape.js";
import { testLlamaServer } from "../helpers.js";
import { writeTemplatedStories } from "../engine/templated-model.js";
import { endOf, startGateway, storiesModel, waitFor, type GatewayFixture } from "./gateway-fixture.js";

async function tokensPredicted(runner: LlamaServerRunner): Promise<number> {
  return Number(/^llamacpp:tokens_predicted_total (\d+)/m.exec(await runner.metricsText())?.[1] ?? NaN);
}

describe("gateway on llama-server runners", () => {
  let fixture: GatewayFixture;
  let openai: OpenAI;
  let ollama: Ollama;
  let dir: string;
  let chatml: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-lsgw-"));
    chatml = await writeTemplatedStories(dir);
    // A small random-weight model: a few hundred tokens/s and no end of text, so streams last.
    const slow = join(dir, "slow.gguf");
    await writeSyntheticModel(slow, { shape: parseSyntheticShape("embd=512,layers=8,heads=8,kv=8,ffn=1536,vocab=512,ctx=2048"), type: "q8_0" });
    fixture = await startGateway({
      models: [storiesModel(), storiesModel({ name: "slow", ref: slow, parallel: 1, contextSize: 2048 })],
      config: { engine: { backend: "llama-server", llama_server: await testLlamaServer() } },
    });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
    ollama = new Ollama({ host: fixture.url });
  });
  after(async () => {
    await fixture?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const runnerOf = (model: string) => fixture.gateway.pool(model).runnerProcesses()[0]!;

  it("serves both dialects, streaming, and says which backend serves each model", async () => {
    for (const model of fixture.gateway.models()) {
      assert.equal(model.state, "ready", `${model.name}: ${model.reason}`);
      assert.deepEqual(model.runners.map((r) => r.backend), ["llama-server"]);
      assert.equal(model.info?.backend, "llama-server");
    }
    const ps = (await (await fetch(`${fixture.url}/api/ps`)).json()) as { models: Array<{ name: string; edgelm: { backend: string } }> };
    assert.deepEqual(ps.models.map((m) => m.edgelm.backend), ["llama-server", "llama-server"]);

    const whole = await openai.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 24, temperature: 0 });
    let streamed = "";
    const stream = await openai.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      streamed += chunk.choices[0]?.text ?? "";
      usage = chunk.usage ?? usage;
    }
    assert.equal(streamed, whole.choices[0]!.text);
    assert.equal(usage?.completion_tokens, 24);

    let chat = "";
    for await (const chunk of await openai.chat.completions.create({ model: "stories", messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 20, temperature: 0, stream: true })) {
      chat += chunk.choices[0]?.delta.content ?? "";
    }
    assert.ok(chat.length > 0);

    let generated = "";
    let done: { eval_count?: number; done_reason?: string } | undefined;
    for await (const part of await ollama.generate({ model: "stories", prompt: "Once upon a time", stream: true, options: { temperature: 0, num_predict: 24 } })) {
      generated += part.response;
      if (part.done) done = part;
    }
    assert.equal(generated, whole.choices[0]!.text);
    assert.equal(done?.eval_count, 24);
    assert.equal(done?.done_reason, "length");
    let ochat = "";
    for await (const part of await ollama.chat({ model: "stories", messages: [{ role: "user", content: "Tell me a story." }], stream: true, options: { temperature: 0, num_predict: 20 } })) {
      ochat += part.message.content;
    }
    assert.equal(ochat, chat);
  });

  it("frees the llama-server slot at once when a streaming client goes away", async () => {
    const runner = runnerOf("slow").runner as LlamaServerRunner;
    const before = await tokensPredicted(runner);
    const ended = endOf(fixture, "openai.completions");
    const stream = await openai.completions.create({ model: "slow", prompt: "Once upon a time", max_tokens: 1500, temperature: 0, stream: true });
    let chunks = 0;
    for await (const _ of stream) if (++chunks === 3) stream.controller.abort();
    const end = await ended;
    assert.equal(end.status, 499);
    assert.equal(end.finishReason, "abort");
    // The bound that matters is the token count below: unstopped, this model makes hundreds of tokens a second here.
    await waitFor(async () => (await runner.health()).activeSequences === 0, 10_000, "llama-server to free the slot");
    const generated = (await tokensPredicted(runner)) - before;
    assert.ok(generated < 300, `llama-server generated ${generated} of 1500 tokens after the client left`);
    assert.equal(fixture.gateway.pool("slow").describe().queue.inFlight, 0);
    const next = await openai.completions.create({ model: "slow", prompt: "Once", max_tokens: 3, temperature: 0 });
    assert.equal(next.usage!.completion_tokens, 3);
  });

  it("ends a stream with an error when its llama-server is killed; the runner restarts and the next request succeeds", async () => {
    const victim = runnerOf("slow");
    const stream = await openai.completions.create({ model: "slow", prompt: "Once upon a time", max_tokens: 1500, temperature: 0, stream: true });
    let chunks = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of stream) if (++chunks === 3) process.kill(victim.pid!, "SIGKILL");
      })(),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.APIError, String(e));
        assert.match(e.message, /the runner for model slow stopped unexpectedly \(killed by SIGKILL\)/);
        assert.equal((e.error as { code?: string } | undefined)?.code, "runner_crashed");
        return true;
      },
    );
    const next = await openai.completions.create({ model: "slow", prompt: "Once upon a time", max_tokens: 5, temperature: 0 });
    assert.equal(next.usage!.completion_tokens, 5);
    const now = runnerOf("slow");
    assert.notEqual(now.pid, victim.pid);
    assert.equal(now.runner.backend, "llama-server");
  });

  it("honours typical_p (OpenAI's llama-server extra and Ollama's option): the same seed samples differently under it", async () => {
    const body = (typical?: number) => ({ model: "stories", prompt: "Once upon a time", max_tokens: 24, temperature: 1, ...(typical !== undefined ? { typical_p: typical } : {}) });
    let differ = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const plain = await openai.completions.create({ ...body(), seed });
      const typical = await openai.completions.create({ ...body(0.2), seed } as any);
      const again = await openai.completions.create({ ...body(0.2), seed } as any);
      assert.equal(again.choices[0]!.text, typical.choices[0]!.text, "the same seed and sampler give the same text");
      if (typical.choices[0]!.text !== plain.choices[0]!.text) differ++;
    }
    assert.ok(differ > 0, "typical_p 0.2 changed no answer: it did not reach the sampler");
    const viaOllama = await ollama.generate({ model: "stories", prompt: "Once upon a time", options: { temperature: 1, seed: 1, num_predict: 24, typical_p: 0.2 } });
    const reference = await openai.completions.create({ ...body(0.2), seed: 1 } as any);
    assert.equal(viaOllama.response, reference.choices[0]!.text);
  });

  it("embeds through both dialects", async () => {
    const e = await openai.embeddings.create({ model: "stories", input: ["Once upon a time", "a red ball"] });
    assert.equal(e.data.length, 2);
    assert.equal(e.data[0]!.embedding.length, 64);
    assert.ok(Math.abs(Math.hypot(...e.data[0]!.embedding) - 1) < 1e-5);
    const o = await ollama.embed({ model: "stories", input: ["Once upon a time"] });
    assert.equal(o.embeddings[0]!.length, 64);
    for (let i = 0; i < 64; i++) assert.ok(Math.abs(o.embeddings[0]![i]! - e.data[0]!.embedding[i]!) < 1e-5);
    const long = await fetch(`${fixture.url}/v1/embeddings`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "stories", input: "a red ball ".repeat(400) }) });
    assert.equal(long.status, 400);
    assert.match(((await long.json()) as { error: { message: string } }).error.message, /context holds 512/);
  });

  it("constrains output to a JSON schema and refuses a schema llama.cpp cannot use", async () => {
    const schema = {
      type: "object",
      properties: { name: { type: "string", enum: ["Lily", "Tom"] }, happy: { type: "boolean" } },
      required: ["name", "happy"],
      additionalProperties: false,
    };
    const r = await openai.chat.completions.create({
      model: "stories",
      messages: [{ role: "user", content: "Describe a child as JSON." }],
      max_tokens: 80,
      temperature: 0,
      response_format: { type: "json_schema", json_schema: { name: "child", schema } },
    });
    const value = JSON.parse(r.choices[0]!.message.content!) as { name: string; happy: boolean };
    assert.ok(["Lily", "Tom"].includes(value.name));
    assert.equal(typeof value.happy, "boolean");
    const o = await ollama.generate({ model: "stories", prompt: "Once upon a time", format: schema, stream: false, options: { temperature: 0, num_predict: 80 } });
    assert.deepEqual(Object.keys(JSON.parse(o.response ?? "") as object).sort(), ["happy", "name"]);
    await assert.rejects(
      openai.chat.completions.create({
        model: "stories",
        messages: [{ role: "user", content: "x" }],
        response_format: { type: "json_schema", json_schema: { name: "bad", schema: { type: "nonsense" } } },
      }),
      (e: unknown) => e instanceof OpenAI.APIError && e.status === 400 && /response_format/.test(e.message),
    );
  });

  it("swaps the model with zero failed requests while 4 clients stream, onto new llama-server runners", async () => {
    const before = fixture.gateway.pool("stories").describe();
    let stop = false;
    let failures = 0;
    let completed = 0;
    const errors: string[] = [];
    const client = async () => {
      while (!stop) {
        try {
          const stream = await openai.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 24, stream: true });
          for await (const _ of stream);
          completed++;
        } catch (error) {
          failures++;
          errors.push(String(error));
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    await waitFor(() => completed >= 8, 20_000, "traffic");
    await fixture.gateway.swapModel("stories", chatml, { waitForDrain: true });
    const afterSwap = completed;
    await waitFor(() => completed >= afterSwap + 8, 20_000, "traffic after the swap");
    stop = true;
    await Promise.all(clients);
    assert.equal(failures, 0, errors.join("\n"));
    const now = fixture.gateway.pool("stories").describe();
    assert.equal(now.path, chatml);
    assert.equal(now.runners.length, 1);
    assert.notEqual(now.runners[0]!.id, before.runners[0]!.id);
    assert.equal(now.runners[0]!.backend, "llama-server");
    assert.equal(now.info?.hasChatTemplate, true);
    // The old llama-server is gone (its exit is reaped a moment after the swap returns on a busy machine).
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(() => !alive(before.runners[0]!.pid!), 10_000, "the old llama-server to exit");
  });
});
