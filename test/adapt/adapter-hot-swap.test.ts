/**
 * Adding and removing an adapter through the admin API while requests stream, on both engines: a runner takes its
 * adapter list at launch (llama-server loads adapters only then), so the pool starts replacement runners with the new
 * list and moves new requests to them once ready; the streams in flight on the old runners finish, each answer equal
 * to its solo answer.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { extractLora } from "../../src/adapt/lora-adapter.js";
import { storeAdapter } from "../../src/adapt/store-adapter.js";
import { loadConfig } from "../../src/config/load-config.js";
import { ModelStore } from "../../src/store/model-store.js";
import { TEST_MODEL, testLlamaServer } from "../helpers.js";
import { startOpsGateway, type OpsFixture } from "../ops/ops-gateway-fixture.js";
import { storiesModel } from "../server/gateway-fixture.js";
import { perturbedModel } from "./perturbed-model.js";

for (const engine of ["llama-server", "node-llama-cpp"] as const) {
  describe(`hot add and remove of an adapter through the admin API (${engine})`, () => {
    let dir: string;
    let fixture: OpsFixture | undefined;
    let openai: OpenAI;
    let tunedB: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "edgelm-adapter-hot-"));
      const home = join(dir, "home");
      const { config } = loadConfig({ env: { EDGELM_HOME: home } });
      const store = ModelStore.open(config);
      await store.add(TEST_MODEL, { name: "stories:base" });
      const tunedA = join(dir, "a.gguf");
      tunedB = join(dir, "b.gguf");
      await perturbedModel(TEST_MODEL, tunedA, 1);
      await perturbedModel(TEST_MODEL, tunedB, 7);
      await store.add(tunedA, { name: "stories:a" });
      for (const [tuned, base, name] of [[tunedA, TEST_MODEL, "notes:v1"], [tunedB, TEST_MODEL, "extra:v1"], [tunedB, tunedA, "of-a:v1"]] as const) {
        const file = join(dir, `${name.replace(":", "-")}.gguf`);
        await extractLora(base, tuned, file, { rank: 4 });
        await storeAdapter(file, config, { name });
      }
      fixture = await startOpsGateway({
        home,
        models: [storiesModel({ ref: "stories:base", parallel: 2, adapters: [{ name: "notes", ref: "notes:v1" }] }), storiesModel({ name: "b-weights", ref: tunedB, parallel: 1 })],
        config: { engine: engine === "llama-server" ? { backend: "llama-server", llama_server: await testLlamaServer() } : { backend: "node-llama-cpp" } },
      });
      openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
    });
    after(async () => {
      await fixture?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const PROMPT = "Once upon a time";
    const solo = async (model: string): Promise<string> =>
      (await openai.completions.create({ model, prompt: PROMPT, max_tokens: 200, temperature: 0 })).choices[0]!.text;
    const streamed = async (model: string): Promise<{ text: string; startedAt: number; endedAt: number }> => {
      const startedAt = performance.now();
      let text = "";
      for await (const chunk of await openai.completions.create({ model, prompt: PROMPT, max_tokens: 200, temperature: 0, stream: true })) text += chunk.choices[0]?.text ?? "";
      return { text, startedAt, endedAt: performance.now() };
    };
    const admin = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> & { error?: { message: string; code: string } } }> => {
      const r = await fetch(`${fixture!.url}${path}`, { method, ...(body !== undefined ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {}) });
      return { status: r.status, json: (await r.json()) as never };
    };

    it("adds an adapter with streams in flight, serves base+new after, and names a removed adapter in a 400", async () => {
      const base = await solo("stories");
      const notes = await solo("stories+notes");
      assert.notEqual(notes, base);
      const [before] = fixture!.gateway.status("stories").runners;

      // Two clients stream back to back, base and adapted, for as long as the add takes.
      let adding = true;
      const results: Array<{ model: string; text: string; startedAt: number; endedAt: number }> = [];
      const client = async (models: string[]): Promise<void> => {
        for (let i = 0; adding || i === 0; i++) {
          const model = models[i % models.length]!;
          results.push({ model, ...(await streamed(model)) });
        }
      };
      const clients = [client(["stories", "stories+notes"]), client(["stories+notes", "stories"])];
      const added = await admin("POST", "/admin/models/stories/adapters", { ref: "extra:v1" });
      const switchedAt = performance.now();
      adding = false;
      await Promise.all(clients);
      assert.equal(added.status, 200, JSON.stringify(added.json));
      assert.equal(added.json.adapter, "extra");
      assert.deepEqual((added.json.model as { adapters: string[] }).adapters, ["notes", "extra"]);
      for (const r of results) assert.equal(r.text, r.model === "stories" ? base : notes, `${r.model} streamed during the add`);
      assert.ok(results.some((r) => r.startedAt < switchedAt && r.endedAt > switchedAt), "a stream was in flight when new requests moved to the new runner");
      const serving = fixture!.gateway.status("stories").runners.filter((r) => !r.draining);
      assert.ok(serving.length === 1 && serving[0]!.id !== before!.id, "the old runner was replaced (it drains, then stops)");

      assert.equal(await solo("stories+extra"), await solo("b-weights"), "the added adapter answers as the weights it was extracted from");
      assert.equal(await solo("stories+notes"), notes);
      assert.equal(await solo("stories"), base);

      const removed = await admin("DELETE", "/admin/models/stories/adapters/extra");
      assert.equal(removed.status, 200, JSON.stringify(removed.json));
      assert.deepEqual((removed.json.model as { adapters: string[] }).adapters, ["notes"]);
      const gone = await fetch(`${fixture!.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "stories+extra", prompt: PROMPT, max_tokens: 4 }) });
      assert.equal(gone.status, 400);
      assert.match(((await gone.json()) as { error: { message: string } }).error.message, /stories has no adapter "extra" \(its adapters: notes\)/);
      assert.equal(await solo("stories+notes"), notes, "the remaining adapter still works");
    });

    it("counts requests and generated tokens per adapter in /metrics, only for adapters the model serves", async () => {
      const series = async (): Promise<Map<string, number>> => {
        const text = await (await fetch(`${fixture!.url}/metrics`)).text();
        const out = new Map<string, number>();
        for (const m of text.matchAll(/^(edgelm_adapter_(?:requests|generated_tokens)_total)\{([^}]*)\} (\S+)$/gm)) out.set(`${m[1]}{${m[2]}}`, Number(m[3]));
        return out;
      };
      const before = await series();
      const requests = 'edgelm_adapter_requests_total{model="stories",adapter="notes",outcome="ok"}';
      const tokens = 'edgelm_adapter_generated_tokens_total{model="stories",adapter="notes"}';
      const r = await openai.completions.create({ model: "stories+notes", prompt: PROMPT, max_tokens: 12, temperature: 0 });
      await openai.completions.create({ model: "stories", prompt: PROMPT, max_tokens: 12, temperature: 0 });
      const bad = await fetch(`${fixture!.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "stories+invented", prompt: PROMPT, max_tokens: 2 }) });
      assert.equal(bad.status, 400);
      const after = await series();
      assert.equal((after.get(requests) ?? 0) - (before.get(requests) ?? 0), 1);
      assert.equal((after.get(tokens) ?? 0) - (before.get(tokens) ?? 0), r.usage!.completion_tokens);
      assert.ok([...after.keys()].every((k) => /adapter="(notes|extra)"/.test(k)), `only served adapters are labels: ${[...after.keys()].join(", ")}`);
    });

    it("refuses an adapter of another base (integrity_mismatch), a path, an unknown or duplicate name; the model keeps serving", async () => {
      const serving = (): string[] => fixture!.gateway.status("stories").runners.filter((r) => !r.draining).map((r) => r.id);
      const runners = serving();
      const other = await admin("POST", "/admin/models/stories/adapters", { ref: "of-a:v1" });
      assert.equal(other.status, 422);
      assert.equal(other.json.error?.code, "integrity_mismatch");
      assert.match(other.json.error!.message, /adapter of-a \(of-a:v1\) is an adapter of stories:a/);
      const path = await admin("POST", "/admin/models/stories/adapters", { ref: join(dir, "extra-v1.gguf") });
      assert.equal(path.status, 400, JSON.stringify(path.json));
      const duplicate = await admin("POST", "/admin/models/stories/adapters", { ref: "notes:v1" });
      assert.equal(duplicate.status, 400);
      assert.match(duplicate.json.error!.message, /stories already has an adapter "notes"/);
      const unknown = await admin("DELETE", "/admin/models/stories/adapters/nope");
      assert.equal(unknown.status, 404);
      assert.match(unknown.json.error!.message, /stories has no adapter "nope" \(its adapters: notes\)/);
      const noModel = await admin("POST", "/admin/models/nothing/adapters", { ref: "notes:v1" });
      assert.equal(noModel.status, 404);
      assert.deepEqual(serving(), runners, "no refused change replaced a runner");
      assert.equal((await openai.completions.create({ model: "stories+notes", prompt: PROMPT, max_tokens: 4, temperature: 0 })).choices.length, 1);
    });
  });
}
