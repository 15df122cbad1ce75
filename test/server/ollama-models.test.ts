import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Ollama } from "ollama";
import { TEST_MODEL } from "../helpers.js";
import { FakeHub } from "../store/fake-hub.js";
import { TestRegistry } from "../store/oci/registry-fixture.js";
import { startGateway, storiesModel, waitFor, type GatewayFixture } from "./gateway-fixture.js";

const MODEL = readFileSync(TEST_MODEL);
const MODEL_SHA = createHash("sha256").update(MODEL).digest("hex");
const HF_REF = "hf:edge-test/Stories-GGUF/stories260K-F32.gguf";

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const part of stream) out.push(part);
  return out;
}

async function ollamaError(promise: Promise<unknown>): Promise<{ message: string; status: number | undefined }> {
  try {
    await promise;
  } catch (error) {
    return { message: (error as Error).message, status: (error as { status_code?: number }).status_code };
  }
  assert.fail("expected the request to fail");
}

describe("Ollama model management through the official client", () => {
  let hub: FakeHub;
  let registry: TestRegistry;
  let fixture: GatewayFixture;
  let ollama: Ollama;

  before(async () => {
    hub = await FakeHub.start();
    hub.add({ owner: "edge-test", repo: "Stories-GGUF", file: "stories260K-F32.gguf", content: MODEL });
    hub.add({ owner: "HuggingFaceTB", repo: "SmolLM2-360M-Instruct-GGUF", file: "smollm2-360m-instruct-q8_0.gguf", content: MODEL });
    registry = await TestRegistry.start();
    fixture = await startGateway({
      models: [storiesModel()],
      config: { hf_endpoint: hub.url, store: { oci: { insecure: [registry.host] } } } as never,
      server: { max_loaded_models: 1, keep_alive: "5m", parallel: 2 },
    });
    ollama = new Ollama({ host: fixture.url });
  });
  after(async () => {
    await fixture?.close();
    await registry?.stop();
    await hub?.close();
  });

  it("pulls an hf: reference with Ollama's progress lines, then serves it without a restart", async () => {
    const lines = await collect(await ollama.pull({ model: HF_REF, stream: true }));
    const statuses = lines.map((l) => l.status);
    assert.equal(statuses[0], "pulling manifest");
    const layer = lines.find((l) => l.digest === `sha256:${MODEL_SHA}`);
    assert.ok(layer, `a line names the blob's digest: ${JSON.stringify(lines)}`);
    assert.equal(layer.status, `pulling ${MODEL_SHA.slice(0, 12)}`);
    assert.equal(layer.total, MODEL.length);
    assert.equal(lines.filter((l) => l.digest === `sha256:${MODEL_SHA}`).at(-1)!.completed, MODEL.length);
    assert.deepEqual(statuses.slice(-3), ["verifying sha256 digest", "writing manifest", "success"]);

    const tags = await ollama.list();
    const pulled = tags.models.find((m) => m.name === "edge-test/stories-gguf:stories260k-f32");
    assert.ok(pulled, `listed: ${tags.models.map((m) => m.name).join(", ")}`);
    assert.equal(pulled.digest, MODEL_SHA);
    assert.equal(pulled.details.family, "llama");
    assert.ok(!(await ollama.ps()).models.some((m) => m.name === pulled.name), "not loaded before its first request");

    const reply = await ollama.generate({ model: pulled.name, prompt: "Once upon a time", options: { num_predict: 8, temperature: 0 } });
    assert.equal(reply.eval_count, 8);
    assert.ok(reply.load_duration > 0, "the first request waited for the load");
    const ps = await ollama.ps();
    const running = ps.models.find((m) => m.name === pulled.name)!;
    assert.ok(running, "loaded by its first request");
    const expires = new Date(running.expires_at).getTime() - Date.now();
    assert.ok(expires > 4 * 60_000 && expires <= 5 * 60_000 + 1000, `expires in about 5 minutes (server.keep_alive): ${running.expires_at}`);
  });

  it("pulls a catalog name with stream:false as one object, and reports an unknown one as Ollama's error", async () => {
    const done = await ollama.pull({ model: "smollm2:360m-q8_0", stream: false });
    assert.deepEqual(done, { status: "success" });
    assert.ok((await ollama.list()).models.some((m) => m.name === "smollm2:360m-q8_0"));
    const missing = await ollamaError(ollama.pull({ model: "no-such-model:1b" }));
    assert.equal(missing.status, 404);
    assert.match(missing.message, /unknown model "no-such-model:1b"/);
    const streamed = await ollamaError(collect(await ollama.pull({ model: "no-such-model:1b", stream: true })));
    assert.match(streamed.message, /no-such-model/);
  });

  it("copies a served model into the store, serves the copy, and deletes it", async () => {
    await ollama.copy({ source: "stories", destination: "stories-copy" });
    assert.ok((await ollama.list()).models.some((m) => m.name === "stories-copy:latest"));
    const reply = await ollama.chat({ model: "stories-copy", messages: [{ role: "user", content: "Hi" }], options: { num_predict: 4 } });
    assert.equal(reply.eval_count, 4);
    await ollama.delete({ model: "stories-copy" });
    assert.ok(!(await ollama.list()).models.some((m) => m.name === "stories-copy:latest"));
    const again = await ollamaError(ollama.delete({ model: "stories-copy" }));
    assert.equal(again.status, 404);
    const gone = await ollamaError(ollama.generate({ model: "stories-copy", prompt: "x" }));
    assert.equal(gone.status, 404);
  });

  it("stores blobs verified against their digest and creates a model from one with a Modelfile's settings", async () => {
    const other = Buffer.from("bytes no model in the store has");
    const otherSha = createHash("sha256").update(other).digest("hex");
    const url = `${fixture.url}/api/blobs/sha256:${otherSha}`;
    assert.equal((await fetch(url, { method: "HEAD" })).status, 404);
    const wrong = await fetch(url, { method: "POST", body: other.subarray(0, 10) });
    assert.equal(wrong.status, 400);
    assert.match(((await wrong.json()) as { error: string }).error, /digest mismatch/);
    assert.equal((await fetch(url, { method: "HEAD" })).status, 404, "a mismatching body is not kept");
    const bad = await fetch(`${fixture.url}/api/blobs/sha256:xyz`, { method: "HEAD" });
    assert.equal(bad.status, 400);
    const stored = await fetch(url, { method: "POST", body: other, headers: { "content-type": "application/octet-stream" } });
    assert.equal(stored.status, 201);
    assert.equal((await fetch(url, { method: "HEAD" })).status, 200);
    const model = await fetch(`${fixture.url}/api/blobs/sha256:${MODEL_SHA}`, { method: "POST", body: MODEL });
    assert.equal(model.status, 201);

    const lines = await collect(
      await ollama.create({
        model: "storyteller",
        files: { "stories.gguf": `sha256:${MODEL_SHA}` },
        system: "You tell stories.",
        template: "{{ if .System }}{{ .System }} {{ end }}{{ .Prompt }}",
        parameters: { num_predict: 6, stop: ["Lily"] },
        stream: true,
      } as never),
    );
    assert.equal(lines.at(-1)!.status, "success");
    const show = await ollama.show({ model: "storyteller" });
    assert.equal(show.system, "You tell stories.");
    assert.equal(show.template, "{{ if .System }}{{ .System }} {{ end }}{{ .Prompt }}");
    assert.match(show.parameters, /num_predict\s+6/);
    assert.match(show.modelfile, /PARAMETER stop "Lily"/);
    const reply = await ollama.generate({ model: "storyteller", prompt: "Once upon a time", options: { temperature: 0 } });
    assert.ok(reply.eval_count <= 6, "PARAMETER num_predict applies when the request sets none");
    const longer = await ollama.generate({ model: "storyteller", prompt: "Once upon a time", options: { temperature: 0, num_predict: 9, stop: [] } });
    assert.equal(longer.eval_count, 9, "the request's own options win");
  });

  it("creates from another model with a Modelfile and quantizes through edgelm's quantizer", async () => {
    const done = (await ollama.create({ model: "stories-q8", from: "stories", quantize: "q8_0", stream: false })) as { status: string };
    assert.equal(done.status, "success");
    const tags = await ollama.list();
    assert.equal(tags.models.find((m) => m.name === "stories-q8:latest")!.details.quantization_level, "Q8_0");
    const reply = await ollama.generate({ model: "stories-q8", prompt: "Once upon a time", options: { num_predict: 5 } });
    assert.equal(reply.eval_count, 5);

    const viaModelfile = await fetch(`${fixture.url}/api/create`, {
      method: "POST",
      body: JSON.stringify({ model: "calm", modelfile: 'FROM stories\nPARAMETER temperature 0\nSYSTEM """Be calm."""\n', stream: false }),
    });
    assert.equal(viaModelfile.status, 200);
    assert.equal((await ollama.show({ model: "calm" })).system, "Be calm.");
  });

  it("refuses what it cannot honour with a 400 naming it", async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ model: "x", modelfile: "FROM stories\nADAPTER ./lora.gguf\n" }, /ADAPTER \.\/lora\.gguf names a file on the client, which the server cannot read/],
      [{ model: "x", from: "stories", adapters: { "lora.gguf": `sha256:${MODEL_SHA}` } }, /adapters: lora\.gguf is not a LoRA adapter/],
      [{ model: "x", from: "stories", parameters: { warmth: 3 } }, /parameters\.warmth: not an Ollama option/],
      [{ model: "x", from: "stories", template: "{{ range .Messages }}{{ end }}" }, /template: .*range .Messages.* not supported/],
      [{ model: "x", files: { "m.gguf": `sha256:${"1".repeat(64)}` } }, /has not been uploaded/],
      [{ model: "x", from: "/etc/passwd" }, /neither in the store nor served here/],
      [{ model: "x", modelfile: "FROM stories\nBOGUS 1\n" }, /unknown instruction BOGUS/],
      [{ model: "x", from: "stories", quantize: "q3_x" }, /unknown quantization type/],
    ];
    for (const [body, message] of cases) {
      const response = await fetch(`${fixture.url}/api/create`, { method: "POST", body: JSON.stringify({ ...body, stream: false }) });
      const text = await response.text();
      assert.ok(response.status === 400 || response.status === 404, `${JSON.stringify(body)}: ${response.status} ${text}`);
      assert.match(JSON.parse(text).error, message);
    }
    assert.ok(!(await ollama.list()).models.some((m) => m.name === "x:latest"), "nothing was created");
    const push = await ollamaError(ollama.push({ model: "stories" }));
    assert.equal(push.status, 400);
    assert.match(push.message, /push needs an oci:\/\/ reference/);
  });

  it("pushes a store model to an oci:// registry and pulls it back under that reference", async () => {
    await ollama.copy({ source: "stories", destination: "team/stories:1" });
    const lines = await collect(await ollama.push({ model: `oci://${registry.host}/team/stories:1`, stream: true }));
    assert.equal(lines[0]!.status, "retrieving manifest");
    assert.ok(lines.some((l) => l.status.startsWith("pushing ") && l.total! > 0), JSON.stringify(lines));
    assert.equal(lines.at(-1)!.status, "success");
    await ollama.delete({ model: "team/stories:1" });
    const pulled = (await ollama.pull({ model: `oci://${registry.host}/team/stories:1`, stream: false })) as { status: string };
    assert.equal(pulled.status, "success");
    const tags = await ollama.list();
    const back = tags.models.find((m) => m.name === "stories:1");
    assert.equal(back?.digest, MODEL_SHA);
  });

  it("keeps at most server.max_loaded_models on-demand models loaded, unloading the least recently used", async () => {
    await ollama.generate({ model: "stories-q8", prompt: "A", options: { num_predict: 2 } });
    await ollama.generate({ model: "calm", prompt: "A", options: { num_predict: 2 } });
    const loaded = (await ollama.ps()).models.map((m) => m.name);
    assert.ok(loaded.includes("calm:latest"), loaded.join(", "));
    assert.ok(!loaded.includes("stories-q8:latest"), `the older on-demand model was unloaded: ${loaded.join(", ")}`);
    assert.ok(loaded.includes("stories:latest"), "configured models do not count");
  });

  it("honours keep_alive: 0 unloads after the request, a duration when idle, -1 keeps it; the next request loads again", async () => {
    const psNames = async () => (await ollama.ps()).models.map((m) => m.name);
    await ollama.generate({ model: "stories", prompt: "A", options: { num_predict: 2 }, keep_alive: 0 });
    await waitFor(async () => !(await psNames()).includes("stories:latest"), 10_000, "the configured model to unload");
    const again = await ollama.generate({ model: "stories", prompt: "A", options: { num_predict: 2 }, keep_alive: "1s" });
    assert.equal(again.eval_count, 2);
    const running = (await ollama.ps()).models.find((m) => m.name === "stories:latest")!;
    assert.ok(new Date(running.expires_at).getTime() - Date.now() <= 1000);
    await waitFor(async () => !(await psNames()).includes("stories:latest"), 10_000, "the idle model to unload after 1s");
    await ollama.generate({ model: "stories", prompt: "A", options: { num_predict: 2 }, keep_alive: -1 });
    await new Promise((r) => setTimeout(r, 1500));
    const kept = (await ollama.ps()).models.find((m) => m.name === "stories:latest")!;
    assert.ok(new Date(kept.expires_at).getFullYear() >= 2100, "kept loaded");
    const unload = await ollama.generate({ model: "stories", prompt: "", keep_alive: 0 });
    assert.equal(unload.done_reason, "unload");
    assert.ok(!(await psNames()).includes("stories:latest"));
    const ready = await fetch(`${fixture.url}/ready`);
    assert.equal(ready.status, 200, "an unloaded model is still ready to serve");
    assert.equal((await fetch(`${fixture.url}/v1/health`)).status, 200, "llama-server's health probe agrees");
    assert.equal((await ollama.chat({ model: "stories", messages: [{ role: "user", content: "Hi" }], options: { num_predict: 3 } })).eval_count, 3);
    const badKeep = await ollamaError(ollama.generate({ model: "stories", prompt: "A", keep_alive: "soon" }));
    assert.equal(badKeep.status, 400);
  });
});

describe("on-demand models under the trust policy", () => {
  let fixture: GatewayFixture;
  after(async () => fixture?.close());

  it("refuses to load an unsigned store model when trust.require_signature is set", async () => {
    fixture = await startGateway({ models: [], config: { trust: { require_signature: true } } as never });
    const ollama = new Ollama({ host: fixture.url });
    assert.equal((await fetch(`${fixture.url}/api/blobs/sha256:${MODEL_SHA}`, { method: "POST", body: MODEL })).status, 201);
    await ollama.create({ model: "unsigned-copy", files: { "stories.gguf": `sha256:${MODEL_SHA}` } } as never);
    const refused = await ollamaError(ollama.generate({ model: "unsigned-copy", prompt: "A", options: { num_predict: 2 } }));
    assert.equal(refused.status, 503);
    assert.match(refused.message, /sign/i);
  });
});
