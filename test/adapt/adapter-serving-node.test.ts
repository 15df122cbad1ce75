/**
 * Per-request LoRA adapters on the node-llama-cpp engine, which applies adapters per context: one gateway serves
 * stories260K with two selectable adapters (exact rank-2 extractions of seeded changes, no trainer needed) and
 * answers base, base+a, base+b and base+a+b requests in flight at once, each equal to its solo answer and to the same
 * adapters applied to the whole model (`--lora`). The engine keeps at most N adapter contexts and evicts the least
 * recently used idle one.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { extractLora } from "../../src/adapt/lora-adapter.js";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import { ChildProcessRunner } from "../../src/engine/runners/child-process-runner.js";
import type { NodeLlamaCppModel } from "../../src/engine/node-llama-cpp-model.js";
import type { GenerateRequest, LoadedModel } from "../../src/engine/types.js";
import { TEST_MODEL } from "../helpers.js";
import { assertConfined, testSandbox } from "../engine/sandbox/test-sandbox.js";
import { startGateway, storiesModel, type GatewayFixture } from "../server/gateway-fixture.js";
import { perturbedModel } from "./perturbed-model.js";

const PROMPT = "Once upon a time";

describe("per-request LoRA adapters on node-llama-cpp", () => {
  let dir: string;
  let adapterA: string;
  let adapterB: string;
  let fixture: GatewayFixture | undefined;
  let openai: OpenAI;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-node-adapters-"));
    const tunedA = join(dir, "tuned-a.gguf");
    const tunedB = join(dir, "tuned-b.gguf");
    await perturbedModel(TEST_MODEL, tunedA, 1);
    await perturbedModel(TEST_MODEL, tunedB, 7);
    adapterA = join(dir, "a.gguf");
    adapterB = join(dir, "b.gguf");
    await extractLora(TEST_MODEL, tunedA, adapterA, { rank: 2 });
    await extractLora(TEST_MODEL, tunedB, adapterB, { rank: 2 });
    fixture = await startGateway({
      models: [
        storiesModel({ parallel: 4, adapters: [{ name: "a", path: adapterA }, { name: "b", path: adapterB }] }),
        // The same adapters applied to every request of a model: the solo references.
        storiesModel({ name: "always-a", parallel: 1, appliedAdapters: [{ path: adapterA, scale: 1 }] }),
        storiesModel({ name: "always-ab", parallel: 1, appliedAdapters: [{ path: adapterA, scale: 1 }, { path: adapterB, scale: 1 }] }),
        storiesModel({ name: "always-half-b", parallel: 1, appliedAdapters: [{ path: adapterB, scale: 0.5 }] }),
      ],
      config: { engine: { backend: "node-llama-cpp" } },
    });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    await fixture?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const complete = async (model: string, extra: Record<string, unknown> = {}): Promise<{ text: string; model: string }> => {
    const r = await openai.completions.create({ model, prompt: PROMPT, max_tokens: 48, temperature: 0, ...extra } as OpenAI.CompletionCreateParamsNonStreaming);
    return { text: r.choices[0]!.text, model: r.model };
  };
  const streamed = async (model: string): Promise<{ model: string; text: string; firstAt: number; endedAt: number }> => {
    let text = "";
    let firstAt = 0;
    for await (const chunk of await openai.completions.create({ model, prompt: PROMPT, max_tokens: 200, temperature: 0, stream: true })) {
      firstAt ||= performance.now();
      text += chunk.choices[0]?.text ?? "";
    }
    return { model, text, firstAt, endedAt: performance.now() };
  };

  it("applies adapters only to the requests that select them, each answer its solo answer, also all kinds at once", async () => {
    for (const model of fixture!.gateway.models()) assert.equal(model.state, "ready", `${model.name}: ${model.reason}`);
    const base = await complete("stories");
    const a = await complete("stories+a");
    const ab = await complete("stories+a+b");
    assert.equal(a.model, "stories+a");
    assert.notEqual(a.text, base.text, "the adapter changes the answer");
    assert.notEqual(ab.text, a.text);
    assert.equal(a.text, (await complete("always-a")).text, "base + a per request answers as the model served with --lora a");
    assert.equal(ab.text, (await complete("always-ab")).text, "base + a + b answers as both applied");
    assert.equal((await complete("stories", { adapters: [{ name: "b", scale: 0.5 }] })).text, (await complete("always-half-b")).text, "a scale of its own");
    // The same selection, spelled three ways; scale 0 is the base.
    assert.equal((await complete("stories", { adapters: ["a"] })).text, a.text);
    assert.equal((await complete("stories", { lora: [{ id: 0, scale: 1 }] })).text, a.text);
    assert.equal((await complete("stories", { lora: [{ id: 0, scale: 0 }] })).text, base.text, "scale 0 is the base");
    assert.equal((await complete("stories", { lora: [{ id: 0, scale: 0 }, { id: 1, scale: 0 }] })).text, base.text, "all at scale 0 is the base");
    assert.equal((await complete("stories", { lora: [{ id: 0, scale: 1 }, { id: 1, scale: 0 }] })).text, a.text, "an adapter at scale 0 adds nothing");

    // Solo streamed answers, then the four kinds in flight at once, twice each.
    const kinds = ["stories", "stories+a", "stories+b", "stories+a+b"];
    const solo = new Map<string, string>();
    for (const model of kinds) solo.set(model, (await streamed(model)).text);
    const mixed = await Promise.all(Array.from({ length: 8 }, (_, i) => streamed(kinds[i % kinds.length]!)));
    for (const [i, r] of mixed.entries()) assert.equal(r.text, solo.get(r.model), `request ${i} (${r.model}) in the mix`);
    const overlapped = mixed.some((x) => x.model === "stories" && mixed.some((y) => y.model !== "stories" && y.firstAt < x.endedAt && x.firstAt < y.endedAt));
    assert.ok(overlapped, "a base and an adapted stream were generating at the same time");

    // Chat too.
    const chat = async (model: string): Promise<string | null> =>
      (await openai.chat.completions.create({ model, messages: [{ role: "user", content: "Tell me a story" }], max_tokens: 16, temperature: 0 })).choices[0]!.message.content;
    assert.notEqual(await chat("stories+a"), await chat("stories"));
    assert.equal(await chat("stories+a"), await chat("always-a"));
  });

  it("refuses an unknown adapter or id with a 400 naming it", async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ model: "stories+nope" }, /stories has no adapter "nope" \(its adapters: a, b\)/],
      [{ model: "stories", adapters: ["other"] }, /stories has no adapter "other"/],
      [{ model: "stories", lora: [{ id: 3, scale: 1 }] }, /lora: stories has no adapter id 3 \(it has 2\)/],
      [{ model: "always-a+a" }, /always-a has no adapters; list them under server\.models\[\]\.adapters/],
    ];
    for (const [body, pattern] of cases) {
      const r = await fetch(`${fixture!.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "Once", max_tokens: 2, ...body }) });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(((await r.json()) as { error: { message: string } }).error.message, pattern);
    }
  });

  it("keeps at most the configured adapter contexts, evicting the least recently used idle one; a set waits while all are busy", async () => {
    const backend = new NodeLlamaCppBackend();
    const load = (extra: Partial<Parameters<NodeLlamaCppBackend["load"]>[0]> = {}): Promise<LoadedModel> =>
      backend.load({ path: TEST_MODEL, contextSize: 256, parallel: 2, threads: { decode: 1, prompt: 1 }, ...extra });
    const text = async (model: LoadedModel, request: Partial<GenerateRequest> = {}): Promise<string> => {
      const stream = await model.generate({ prompt: PROMPT, maxTokens: 40, temperature: 0, ...request });
      for await (const _ of stream) void _;
      return (await stream.result).text;
    };
    const reference = new Map<string, string>();
    for (const [key, adapters] of [["", []], ["a", [adapterA]], ["b", [adapterB]], ["a+b", [adapterA, adapterB]]] as const) {
      const m = await load(adapters.length > 0 ? { adapters: adapters.map((path) => ({ path, scale: 1 })) } : {});
      try {
        reference.set(key, await text(m));
      } finally {
        await m.dispose();
      }
    }
    const model = (await load({ selectableAdapters: [{ name: "a", path: adapterA }, { name: "b", path: adapterB }], adapterContexts: { max: 1 } })) as NodeLlamaCppModel;
    try {
      const sets: Array<[string, GenerateRequest["adapters"]]> = [["", []], ["a", [{ index: 0 }]], ["b", [{ index: 1 }]], ["a+b", [{ index: 1, scale: 1 }, { index: 0 }]]];
      // All at once: with one adapter context, the three sets take turns while the base runs beside them.
      const answers = await Promise.all([...sets, ...sets].map(([key, adapters]) => text(model, { adapters }).then((t) => [key, t] as const)));
      for (const [key, t] of answers) assert.equal(t, reference.get(key), `set "${key}" equals the same adapters applied to a whole context`);
      const stats = model.adapterContextStats();
      assert.equal(stats.alive, 1, "never more than one adapter context");
      assert.ok(stats.created >= 3 && stats.evicted === stats.created - 1, JSON.stringify(stats));
      assert.equal(model.activeSequences, 0);
      // A cancelled request waiting for a context leaves; a cancelled stream frees its context; the next set is served.
      const streaming = new AbortController();
      const busy = await model.generate({ prompt: PROMPT, maxTokens: 200, temperature: 0, ignoreEos: true, adapters: [{ index: 0 }] }, streaming.signal);
      const controller = new AbortController();
      const waiting = model.generate({ prompt: PROMPT, maxTokens: 4, temperature: 0, adapters: [{ index: 1 }] }, controller.signal);
      controller.abort();
      await assert.rejects(waiting, (e: Error & { code?: string }) => e.code === "aborted");
      for await (const _ of busy) {
        streaming.abort();
      }
      assert.equal((await busy.result).finishReason, "abort");
      assert.equal(await text(model, { adapters: [{ index: 1 }] }), reference.get("b"));
      assert.equal(model.adapterContextStats().alive, 1);
      await assert.rejects(model.generate({ prompt: PROMPT, adapters: [{ index: 2 }] }), /adapter 2 is not loaded \(2 are\)/);
    } finally {
      await model.dispose();
    }
    const noAdapters = await load();
    try {
      await assert.rejects(noAdapters.generate({ prompt: PROMPT, adapters: [{ index: 0 }] }), /has no adapters to select/);
    } finally {
      await noAdapters.dispose();
    }
  });

  it("a sandboxed runner process reads its selectable adapters and answers with them", async () => {
    const spec = { name: "stories", path: TEST_MODEL, contextSize: 256, parallel: 2, threads: { decode: 1, prompt: 1 } };
    const applied = await new NodeLlamaCppBackend().load({ ...spec, adapters: [{ path: adapterB, scale: 1 }] });
    let expected: string;
    try {
      const s = await applied.generate({ prompt: PROMPT, maxTokens: 40, temperature: 0 });
      for await (const _ of s) void _;
      expected = (await s.result).text;
    } finally {
      await applied.dispose();
    }
    const runner = new ChildProcessRunner({ ...spec, selectableAdapters: [{ name: "a", path: adapterA }, { name: "b", path: adapterB }] }, { sandbox: testSandbox() });
    try {
      await runner.start();
      assertConfined(runner.pid);
      const s = await runner.generate({ prompt: PROMPT, maxTokens: 40, temperature: 0, adapters: [{ index: 1, name: "b" }] });
      for await (const _ of s) void _;
      assert.equal((await s.result).text, expected);
    } finally {
      await runner.dispose();
    }
  });

  it("refuses a selectable adapter of another model before llama.cpp loads it", async () => {
    const other = join(dir, "other.gguf");
    await extractLora(join(dir, "tuned-a.gguf"), join(dir, "tuned-b.gguf"), other, { rank: 2 });
    await assert.rejects(
      new NodeLlamaCppBackend().load({ path: TEST_MODEL, contextSize: 128, selectableAdapters: [{ name: "other", path: other }] }),
      (e: Error & { code?: string }) => e.code === "integrity_mismatch" && /was made for a base with SHA-256/.test(e.message),
    );
  });
});
