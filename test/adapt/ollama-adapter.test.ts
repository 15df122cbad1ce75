/**
 * Ollama's ADAPTER through /api/create, the way the Ollama client does it: the adapter file uploaded as a blob, then
 * `{"model", "from", "adapters": {"lora.gguf": "sha256:…"}}` (or a Modelfile's `ADAPTER @sha256:…`). The new model
 * is listed and shown with its adapter, and answers greedy requests exactly as its base with the adapter applied
 * (`serve --lora`, or selected per request on llama-server), on both engines; refusals name `adapters` and the
 * reason, and write nothing to the store. The adapter is a real LoRA extracted from a deterministically perturbed
 * stories260K (no trainer needed).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ollama } from "ollama";
import { open } from "node:fs/promises";
import { ADAPTER_BASE_KEY, extractLora } from "../../src/adapt/lora-adapter.js";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { writeGguf } from "../../src/gguf/gguf-writer.js";
import { copiedTensor } from "../../src/gguf/tensor-bytes.js";
import { typedMetadata } from "../../src/gguf/typed-metadata.js";
import { ModelStore } from "../../src/store/model-store.js";
import { runCli, TEST_MODEL, testLlamaServer } from "../helpers.js";
import { startGateway, storiesModel, type GatewayFixture } from "../server/gateway-fixture.js";
import { perturbedModel } from "./perturbed-model.js";

const MODEL = readFileSync(TEST_MODEL);
const sha = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");
const MODEL_SHA = sha(MODEL);

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const part of stream) out.push(part);
  return out;
}

async function upload(url: string, bytes: Buffer): Promise<string> {
  const hex = sha(bytes);
  const r = await fetch(`${url}/api/blobs/sha256:${hex}`, { method: "POST", body: bytes });
  assert.ok(r.status === 201 || r.status === 200, `upload: ${r.status} ${await r.text()}`);
  return hex;
}

/** Every file under the store's manifests/ and blobs/ with its size: what a refused create must leave as it was. */
function storeSnapshot(home: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(`${relative(home, path)} ${statSync(path).size}`);
    }
  };
  for (const part of ["manifests", "blobs"]) walk(join(home, part));
  return out.sort();
}

describe("Ollama ADAPTER in /api/create", () => {
  let dir: string;
  let adapterPath: string;
  let adapter: Buffer;
  let adapterSha: string;
  /** An adapter of another model (the perturbed one): it records that model's SHA-256. */
  let wrongBase: Buffer;
  /** An adapter recording no base whose factors do not fit stories260K's shapes. */
  let misfit: Buffer;
  /** A second adapter of stories260K (another perturbation), for a model applying two. */
  let secondPath: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-ollama-adapter-"));
    const tuned = join(dir, "tuned.gguf");
    await perturbedModel(TEST_MODEL, tuned, 1);
    adapterPath = join(dir, "lora.gguf");
    await extractLora(TEST_MODEL, tuned, adapterPath, { rank: 2 });
    adapter = readFileSync(adapterPath);
    adapterSha = sha(adapter);
    const other = join(dir, "other.gguf");
    await perturbedModel(TEST_MODEL, other, 2);
    const wrongPath = join(dir, "wrong.gguf");
    await extractLora(tuned, other, wrongPath, { rank: 2 });
    wrongBase = readFileSync(wrongPath);
    const third = join(dir, "third.gguf");
    await perturbedModel(TEST_MODEL, third, 3, 0.3);
    secondPath = join(dir, "second.gguf");
    await extractLora(TEST_MODEL, third, secondPath, { rank: 2 });
    // blk.0.ffn_down's factors (A is 172 × r) under blk.0.attn_output's name (64 × 64), and no recorded base SHA-256.
    const source = readGguf(adapterPath);
    const metadata = typedMetadata(source, adapterPath);
    metadata.delete(ADAPTER_BASE_KEY);
    const misfitPath = join(dir, "misfit.gguf");
    const file = await open(adapterPath, "r");
    try {
      await writeGguf(misfitPath, {
        metadata,
        tensors: source.tensors
          .filter((t) => t.name.startsWith("blk.0.ffn_down.weight.lora_"))
          .map((t) => ({ ...copiedTensor(file, t, adapterPath), name: t.name.replace("ffn_down", "attn_output") })),
      });
    } finally {
      await file.close();
    }
    misfit = readFileSync(misfitPath);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe("on node-llama-cpp", () => {
    let fixture: GatewayFixture;
    let ollama: Ollama;
    before(async () => {
      fixture = await startGateway({
        models: [storiesModel({ parallel: 1 }), storiesModel({ name: "always", parallel: 1, appliedAdapters: [{ path: adapterPath, scale: 1 }] })],
        config: { engine: { backend: "node-llama-cpp" } },
        server: { max_loaded_models: 2 },
      });
      ollama = new Ollama({ host: fixture.url });
    });
    after(async () => fixture?.close());

    const answer = async (model: string): Promise<string> =>
      (await ollama.generate({ model, prompt: "Once upon a time", options: { num_predict: 32, temperature: 0 } })).response ?? "";

    it("creates base + adapter from uploaded blobs; it is listed, shown with its ADAPTER, and answers as the base with --lora", async () => {
      await upload(fixture.url, MODEL);
      await ollama.create({ model: "base", files: { "stories.gguf": `sha256:${MODEL_SHA}` } } as never);
      assert.equal(await upload(fixture.url, adapter), adapterSha);
      const lines = await collect(await ollama.create({ model: "my-model", from: "base", adapters: { "lora.gguf": `sha256:${adapterSha}` }, stream: true }));
      const statuses = lines.map((l) => l.status);
      assert.ok(statuses.includes(`using adapter layer sha256:${adapterSha}`), statuses.join(" | "));
      assert.equal(statuses.at(-1), "success");

      // In the store: the base's model file, and the adapter as an adapter entry of it, listed by the manifest.
      const store = new ModelStore(fixture.home);
      const entry = store.get("my-model")!;
      assert.equal(entry.model.sha256, MODEL_SHA, "the model file is the base's (deduplicated)");
      const adapterName = `my-model-adapter-${adapterSha.slice(0, 12)}:latest`;
      assert.deepEqual(entry.manifest.adapters, [{ name: adapterName, sha256: adapterSha, scale: 1 }]);
      const adapterEntry = store.get(adapterName)!;
      assert.deepEqual(adapterEntry.manifest.adapter_of, { name: "my-model:latest", sha256: MODEL_SHA });
      assert.equal(adapterEntry.model.role, "adapter");

      const tags = await ollama.list();
      const listed = tags.models.find((m) => m.name === "my-model:latest");
      assert.ok(listed, `listed: ${tags.models.map((m) => m.name).join(", ")}`);
      assert.equal(listed.digest, MODEL_SHA);
      assert.ok(!tags.models.some((m) => m.name.includes("-adapter-")), "adapter entries are not listed as models");
      const shown = await ollama.show({ model: "my-model" });
      assert.match(shown.modelfile, new RegExp(`^FROM .*${MODEL_SHA}\\nADAPTER .*${adapterSha}$`, "m"));

      const adapted = await answer("my-model");
      assert.equal(adapted, await answer("always"), "my-model answers as the base served with --lora");
      assert.notEqual(adapted, await answer("stories"), "and not as the base");
      const chat = async (model: string): Promise<string> =>
        (await ollama.chat({ model, messages: [{ role: "user", content: "Tell me a story" }], options: { num_predict: 16, temperature: 0 } })).message.content;
      assert.equal(await chat("my-model"), await chat("always"), "/api/chat too");
      const shownLoaded = await ollama.show({ model: "my-model" });
      assert.match(shownLoaded.modelfile, new RegExp(`^ADAPTER .*${adapterSha}$`, "m"), "also once loaded");

      // A Modelfile (older clients) names the uploaded blob as ADAPTER @sha256:<hex>.
      const viaModelfile = await fetch(`${fixture.url}/api/create`, {
        method: "POST",
        body: JSON.stringify({ model: "my-model-mf", modelfile: `FROM base\nADAPTER @sha256:${adapterSha}\n`, stream: false }),
      });
      assert.equal(viaModelfile.status, 200, await viaModelfile.clone().text());
      assert.equal(await answer("my-model-mf"), adapted);

      // `edgelm run` of the created model applies its adapter too, as `--lora` does.
      const run = async (args: string[]): Promise<string> => {
        const r = await runCli(["run", ...args, "Once upon a time", "-n", "64", "-t", "0", "--json"], { env: { EDGELM_HOME: fixture.home, EDGELM_ENGINE: "node-llama-cpp" } });
        assert.equal(r.code, 0, r.stderr);
        return (JSON.parse(r.stdout) as { text: string }).text;
      };
      const cliAdapted = await run(["my-model-mf"]);
      assert.equal(cliAdapted, await run([TEST_MODEL, "--lora", adapterPath]));
      assert.notEqual(cliAdapted, await run([TEST_MODEL]));

      // A copy keeps its adapters; deleting a model removes its adapter entry once no model applies it.
      await ollama.copy({ source: "my-model", destination: "my-copy" });
      assert.deepEqual(store.get("my-copy")!.manifest.adapters, entry.manifest.adapters);
      await ollama.delete({ model: "my-model" });
      assert.ok(store.get(adapterName), "still applied by my-copy");
      await ollama.delete({ model: "my-copy" });
      assert.equal(store.get(adapterName), undefined, "removed with the last model that applied it");
      const mfAdapter = `my-model-mf-adapter-${adapterSha.slice(0, 12)}:latest`;
      assert.ok(store.get(mfAdapter), "my-model-mf's own adapter entry stays");
      const rm = await runCli(["rm", "my-model-mf", "--json"], { env: { EDGELM_HOME: fixture.home } });
      assert.equal(rm.code, 0, rm.stderr);
      assert.deepEqual((JSON.parse(rm.stdout) as Array<{ reference: string }>).map((r) => r.reference), ["my-model-mf:latest", mfAdapter], "edgelm rm takes it along too");
      assert.equal(store.get(mfAdapter), undefined);
    });

    it("refuses a wrong-base adapter, one that does not fit the base's shapes, a non-adapter GGUF, a missing blob and quantizing with adapters, writing nothing", async () => {
      await upload(fixture.url, MODEL);
      await ollama.create({ model: "base", files: { "stories.gguf": `sha256:${MODEL_SHA}` } } as never);
      const wrongSha = await upload(fixture.url, wrongBase);
      const misfitSha = await upload(fixture.url, misfit);
      const textSha = await upload(fixture.url, Buffer.from("these bytes are no GGUF file at all\n"));
      await upload(fixture.url, adapter);
      const missing = "7".repeat(64);
      const before = storeSnapshot(fixture.home);
      const cases: Array<[Record<string, unknown>, RegExp, string]> = [
        [{ adapters: { "wrong.gguf": `sha256:${wrongSha}` } }, /^adapters: wrong\.gguf was made for a base with SHA-256 [0-9a-f]{16}…, not base:latest \([0-9a-f]{16}…\): create the model from the model it was made for$/, "wrong_base"],
        [{ adapters: { "misfit.gguf": `sha256:${misfitSha}` } }, /^adapters: misfit\.gguf does not fit base:latest: blk\.0\.attn_output\.weight is 64×64$/, "shape_mismatch"],
        [{ adapters: { "notes.txt": `sha256:${textSha}` } }, /^adapters: notes\.txt.*GGUF.*\(a GGUF LoRA adapter is needed\)$/, "not_an_adapter"],
        [{ adapters: { "model.gguf": `sha256:${MODEL_SHA}` } }, /^adapters: model\.gguf is not a LoRA adapter \(general\.type "[^"]*", adapter\.type "undefined"\) \(a GGUF LoRA adapter is needed\)$/, "not_an_adapter"],
        [{ adapters: { "lost.gguf": `sha256:${missing}` } }, new RegExp(`adapters: lost\\.gguf: blob sha256:${missing} has not been uploaded; POST it to /api/blobs/sha256:${missing} first`), "missing_blob"],
        [{ adapters: { "lora.gguf": "sha256:xyz" } }, /adapters: lora\.gguf: "sha256:xyz" is not a blob digest/, ""],
        [{ adapters: { "lora.gguf": `sha256:${adapterSha}` }, quantize: "q8_0" }, /adapters: a model with LoRA adapters cannot be quantized on the way/, ""],
        [{ modelfile: "FROM base\nADAPTER ./lora.gguf\n" }, /Modelfile line 2: ADAPTER \.\/lora\.gguf names a file on the client, which the server cannot read/, ""],
      ];
      for (const [body, message, reason] of cases) {
        const r = await fetch(`${fixture.url}/api/create`, { method: "POST", body: JSON.stringify({ model: "refused", from: "base", stream: false, ...body }) });
        const text = await r.text();
        assert.equal(r.status, 400, `${JSON.stringify(body)}: ${text}`);
        assert.match((JSON.parse(text) as { error: string }).error, message);
        if (reason) {
          const streamed = await fetch(`${fixture.url}/api/create`, { method: "POST", body: JSON.stringify({ model: "refused", from: "base", stream: true, ...body }) });
          assert.equal(streamed.status, 400, `${reason}: refused before the progress stream starts`);
        }
      }
      assert.deepEqual(storeSnapshot(fixture.home), before, "nothing was written to the store");
      assert.ok(!(await ollama.list()).models.some((m) => m.name.startsWith("refused")));
    });

    it("verifies the adapter on every load: a changed adapter blob keeps the model from loading", async () => {
      await upload(fixture.url, MODEL);
      await ollama.create({ model: "base", files: { "stories.gguf": `sha256:${MODEL_SHA}` } } as never);
      await upload(fixture.url, adapter);
      await ollama.create({ model: "tampered", from: "base", adapters: { "lora.gguf": `sha256:${adapterSha}` } });
      const store = new ModelStore(fixture.home);
      const blob = store.blobPath(adapterSha);
      const bytes = readFileSync(blob);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      rmSync(blob, { force: true });
      writeFileSync(blob, bytes);
      const r = await fetch(`${fixture.url}/api/generate`, { method: "POST", body: JSON.stringify({ model: "tampered", prompt: "Once", stream: false, options: { num_predict: 2 } }) });
      const text = await r.text();
      assert.equal(r.status, 503, text);
      assert.match(text, /does not match its manifest|integrity|SHA-256/i);
    });
  });

  describe("on llama-server", () => {
    let fixture: GatewayFixture;
    let ollama: Ollama;
    before(async () => {
      fixture = await startGateway({
        models: [
          storiesModel({ parallel: 1, adapters: [{ name: "tuned", path: adapterPath }, { name: "second", path: secondPath }] }),
          storiesModel({ name: "always", parallel: 1, appliedAdapters: [{ path: adapterPath, scale: 1 }] }),
          storiesModel({ name: "both", parallel: 1, appliedAdapters: [{ path: adapterPath, scale: 1 }, { path: secondPath, scale: 1 }] }),
        ],
        config: { engine: { backend: "llama-server", llama_server: await testLlamaServer() } },
        server: { max_loaded_models: 2 },
      });
      ollama = new Ollama({ host: fixture.url });
    });
    after(async () => fixture?.close());

    it("a model created from a served model with one or two ADAPTERs answers as the base with them selected per request, or applied with --lora", async () => {
      await upload(fixture.url, adapter);
      await ollama.create({ model: "my-model", from: "stories", adapters: { "lora.gguf": `sha256:${adapterSha}` } });
      const answer = async (model: string): Promise<string> =>
        (await ollama.generate({ model, prompt: "Once upon a time", options: { num_predict: 32, temperature: 0 } })).response ?? "";
      const complete = async (model: string): Promise<string> => {
        const r = await fetch(`${fixture.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, prompt: "Once upon a time", max_tokens: 32, temperature: 0 }) });
        assert.equal(r.status, 200);
        return ((await r.json()) as { choices: Array<{ text: string }> }).choices[0]!.text;
      };
      const adapted = await answer("my-model");
      assert.equal(adapted, await answer("always"), "as the base served with --lora");
      assert.notEqual(adapted, await answer("stories"), "not as the base");
      assert.equal(await complete("my-model"), await complete("stories+tuned"), "as the base with the adapter selected per request");

      // Two ADAPTER lines: both applied, as two --lora files are.
      const secondSha = await upload(fixture.url, readFileSync(secondPath));
      await ollama.create({ model: "two", from: "stories", adapters: { "lora.gguf": `sha256:${adapterSha}`, "second.gguf": `sha256:${secondSha}` } });
      const two = await answer("two");
      assert.equal(two, await answer("both"));
      assert.notEqual(two, adapted, "the second adapter changes the answer too");
      assert.equal(await complete("two"), await complete("stories+tuned+second"));
      assert.equal((await ollama.show({ model: "two" })).modelfile.match(/^ADAPTER /gm)?.length, 2);

      const ps = (await (await fetch(`${fixture.url}/api/ps`)).json()) as { models: Array<{ name: string; edgelm: { backend: string } }> };
      assert.equal(ps.models.find((m) => m.name === "my-model:latest")?.edgelm.backend, "llama-server", "loaded on demand, on llama-server");
    });
  });
});
