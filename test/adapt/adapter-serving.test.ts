/**
 * LoRA adapters served per request: one gateway on llama-server serves stories260K with and without an adapter
 * extracted from a real fine-tune, concurrently, each answer matching its solo answer; the adapted answer matches
 * the fine-tuned weights served as their own model; on node-llama-cpp too (more of that engine in
 * adapter-serving-node.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { fineTuneModel } from "../../src/adapt/fine-tune-model.js";
import { extractLora } from "../../src/adapt/lora-adapter.js";
import { loadConfig } from "../../src/config/load-config.js";
import { resolveModel } from "../../src/store/resolve-model.js";
import { runCli, TEST_MODEL, testLlamaServer, testTrainer } from "../helpers.js";
import { startGateway, storiesModel, type GatewayFixture } from "../server/gateway-fixture.js";
import { matricesOnly } from "./matrices-only.js";
import { SHARD_BAKERY, SHARD_BOAT, SHARD_GARDEN } from "./training-stories.js";

describe("LoRA adapters served per request", () => {
  let dir: string;
  let adapter: string;
  let tuned2d: string;
  let fixture: GatewayFixture | undefined;
  let openai: OpenAI;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-adapters-"));
    const { config } = loadConfig({ env: { EDGELM_HOME: join(dir, "home"), EDGELM_TRAINER: await testTrainer() } });
    const textFile = join(dir, "text.txt");
    writeFileSync(textFile, [SHARD_GARDEN, SHARD_BOAT, SHARD_BAKERY].join("\n"));
    const tuned = join(dir, "tuned.gguf");
    // A learning rate high enough that greedy answers differ visibly from the base's.
    await fineTuneModel(await resolveModel(TEST_MODEL, config, { allowDownload: false }), textFile, tuned, config, { epochs: 3, contextSize: 64, learningRate: 1e-3 });
    adapter = join(dir, "adapter.gguf");
    await extractLora(TEST_MODEL, tuned, adapter, { rank: 172 });
    tuned2d = join(dir, "tuned-2d.gguf");
    await matricesOnly(TEST_MODEL, tuned, tuned2d);
    fixture = await startGateway({
      models: [storiesModel({ adapters: [{ name: "tuned", path: adapter }] }), storiesModel({ name: "tuned-weights", ref: tuned2d, parallel: 1 })],
      config: { engine: { backend: "llama-server", llama_server: await testLlamaServer() } },
    });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    await fixture?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const complete = async (model: string, extra: Record<string, unknown> = {}): Promise<{ text: string; model: string }> => {
    const r = await openai.completions.create({ model, prompt: "Once upon a time", max_tokens: 32, temperature: 0, ...extra } as OpenAI.CompletionCreateParamsNonStreaming);
    return { text: r.choices[0]!.text, model: r.model };
  };

  it("applies an adapter only to the requests that select it, also when both kinds run at once", async () => {
    for (const model of fixture!.gateway.models()) assert.equal(model.state, "ready", `${model.name}: ${model.reason}`);
    const base = await complete("stories");
    const adapted = await complete("stories+tuned");
    const weights = await complete("tuned-weights");
    assert.equal(adapted.model, "stories+tuned");
    assert.notEqual(adapted.text, base.text, "the adapter changes the answer");
    assert.equal(adapted.text, weights.text, "base + adapter answers as the fine-tuned weights do");
    // The same selection, spelled three ways.
    assert.equal((await complete("stories", { adapters: ["tuned"] })).text, adapted.text);
    assert.equal((await complete("stories", { adapters: [{ name: "tuned", scale: 1 }] })).text, adapted.text);
    assert.equal((await complete("stories", { lora: [{ id: 0, scale: 1 }] })).text, adapted.text);
    assert.equal((await complete("stories", { lora: [{ id: 0, scale: 0 }] })).text, base.text, "scale 0 is the base");
    // Concurrently, interleaved on the same runner's slots: each answer is its solo answer.
    const mixed = await Promise.all(Array.from({ length: 8 }, (_, i) => complete(i % 2 === 0 ? "stories" : "stories+tuned")));
    mixed.forEach((r, i) => assert.equal(r.text, i % 2 === 0 ? base.text : adapted.text, `request ${i}`));
    // Chat too.
    const chatBase = await openai.chat.completions.create({ model: "stories", messages: [{ role: "user", content: "Tell me a story" }], max_tokens: 16, temperature: 0 });
    const chatAdapted = await openai.chat.completions.create({ model: "stories+tuned", messages: [{ role: "user", content: "Tell me a story" }], max_tokens: 16, temperature: 0 });
    assert.notEqual(chatAdapted.choices[0]!.message.content, chatBase.choices[0]!.message.content);
  });

  it("refuses an unknown adapter or id with a 400 naming it", async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ model: "stories+nope" }, /stories has no adapter "nope" \(its adapters: tuned\)/],
      [{ model: "stories", adapters: ["other"] }, /stories has no adapter "other"/],
      [{ model: "stories", lora: [{ id: 3, scale: 1 }] }, /lora: stories has no adapter id 3 \(it has 1\)/],
      [{ model: "tuned-weights+tuned" }, /tuned-weights has no adapters; list them under server\.models\[\]\.adapters/],
    ];
    for (const [body, pattern] of cases) {
      const r = await fetch(`${fixture!.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt: "Once", max_tokens: 2, ...body }),
      });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(((await r.json()) as { error: { message: string } }).error.message, pattern);
    }
    const unknown = await fetch(`${fixture!.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "nothing+tuned", prompt: "x" }) });
    assert.equal(unknown.status, 404);
  });

  it("on node-llama-cpp, a per-request adapter answers as the fine-tuned weights too; an adapter applied to a whole model works on both engines", async () => {
    const weights = await complete("tuned-weights");
    const nlc = await startGateway({
      models: [
        storiesModel({ adapters: [{ name: "tuned", path: adapter }] }),
        storiesModel({ name: "always", parallel: 1, appliedAdapters: [{ path: adapter, scale: 1 }] }),
        storiesModel({ name: "tuned-weights", ref: tuned2d, parallel: 1 }),
      ],
      config: { engine: { backend: "node-llama-cpp" } },
    });
    try {
      const plain = await fetch(`${nlc.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "stories", prompt: "Once", max_tokens: 2 }) });
      assert.equal(plain.status, 200, "the base is served as usual");
      const ask = async (model: string): Promise<string> =>
        ((await (await fetch(`${nlc.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, prompt: "Once upon a time", max_tokens: 32, temperature: 0 }) })).json()) as { choices: Array<{ text: string }> }).choices[0]!.text;
      assert.equal(await ask("always"), await ask("tuned-weights"), "node-llama-cpp: a model served with --lora answers as the tuned weights");
      assert.equal(await ask("stories+tuned"), await ask("always"), "node-llama-cpp: the adapter selected per request answers the same");
      assert.notEqual(await ask("always"), await ask("stories"));
    } finally {
      await nlc.close();
    }
    const ls = await startGateway({
      models: [storiesModel({ name: "always", parallel: 1, appliedAdapters: [{ path: adapter, scale: 1 }] })],
      config: { engine: { backend: "llama-server", llama_server: await testLlamaServer() } },
    });
    try {
      const r = (await (await fetch(`${ls.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "always", prompt: "Once upon a time", max_tokens: 32, temperature: 0 }) })).json()) as { choices: Array<{ text: string }> };
      assert.equal(r.choices[0]!.text, weights.text, "llama-server: the same");
    } finally {
      await ls.close();
    }
  });

  it("edgelm serve --lora refuses an adapter of another model, and more than one served model, before starting", async () => {
    const env = { EDGELM_HOME: join(dir, "home") };
    const other = await runCli(["serve", "--model", tuned2d, "--lora", adapter, "--port", "0"], { env });
    assert.equal(other.code, 4, other.stderr);
    assert.match(other.stderr, /was made for a base with SHA-256/);
    const two = await runCli(["serve", "--model", TEST_MODEL, "--model", `b=${tuned2d}`, "--lora", adapter, "--port", "0"], { env });
    assert.equal(two.code, 2, two.stderr);
    assert.match(two.stderr, /--lora applies to one served model, and 2 are served; list adapters under server\.models\[\]\.adapters instead/);
  });
});
