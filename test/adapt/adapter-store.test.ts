/**
 * LoRA adapters as store entries of their base: `edgelm add adapter.gguf` and `edgelm lora extract … --out name:tag`
 * store them (signed with the device key), `edgelm list` shows them under their base, and a gateway on llama-server
 * serves one by store name — verified on every load, refused over another base (integrity_mismatch).
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { extractLora } from "../../src/adapt/lora-adapter.js";
import { checkConfig, loadConfig } from "../../src/config/load-config.js";
import { planServedModels } from "../../src/server/served-model-specs.js";
import { ModelStore } from "../../src/store/model-store.js";
import { runCli, TEST_MODEL, testLlamaServer } from "../helpers.js";
import { startGateway, storiesModel, type GatewayFixture } from "../server/gateway-fixture.js";
import { perturbedModel } from "./perturbed-model.js";

describe("LoRA adapters as store entries of their base", () => {
  let dir: string;
  let home: string;
  let env: Record<string, string>;
  let tuned: string;
  let adapter: string;
  let baseSha: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-adapter-store-"));
    home = join(dir, "home");
    mkdirSync(home);
    const key = join(dir, "device.pem");
    writeFileSync(key, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }));
    writeFileSync(join(home, "config.yaml"), `trust:\n  local_key: ${key}\n`);
    env = { EDGELM_HOME: home };
    tuned = join(dir, "tuned.gguf");
    await perturbedModel(TEST_MODEL, tuned);
    adapter = join(dir, "notes.gguf");
    baseSha = (await extractLora(TEST_MODEL, tuned, adapter, { rank: 2 })).baseSha256;
    for (const [path, name] of [[TEST_MODEL, "stories:base"], [tuned, "stories:tuned"]] as const) {
      const added = await runCli(["add", path, "--name", name], { env });
      assert.equal(added.code, 0, added.stderr);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("edgelm add stores an adapter as an entry of the base it records, signed with trust.local_key; list shows it under its base", async () => {
    const added = await runCli(["add", adapter, "--name", "notes:v1", "--json"], { env });
    assert.equal(added.code, 0, added.stderr);
    const entry = JSON.parse(added.stdout) as { kind: string; adapter_of: { name: string; sha256: string }; signed: boolean; signature_status: string; files: Array<{ role: string }> };
    assert.equal(entry.kind, "adapter");
    assert.deepEqual(entry.adapter_of, { name: "stories:base", sha256: baseSha });
    assert.equal(entry.signed, true);
    assert.equal(entry.signature_status, "signed");
    assert.deepEqual(entry.files.map((f) => f.role).sort(), ["adapter", "signature"]);
    const verified = await runCli(["verify", "notes:v1"], { env });
    assert.equal(verified.code, 0, verified.stderr);
    const list = await runCli(["list"], { env });
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.split("\n");
    const baseLine = lines.findIndex((l) => /^stories\s+base\s/.test(l));
    assert.ok(baseLine !== -1, list.stdout);
    assert.match(lines[baseLine + 1]!, /^\s+└ notes\s+v1\s.*adapter/, list.stdout);
    const json = JSON.parse((await runCli(["list", "--json"], { env })).stdout) as Array<{ reference: string; kind: string }>;
    assert.deepEqual(json.map((e) => `${e.reference} ${e.kind}`).sort(), ["notes:v1 adapter", "stories:base model", "stories:tuned model"]);
  });

  it("edgelm lora extract --out name:tag stores the adapter; another base, an adapter as a model, a model as an adapter are refused", async () => {
    const extracted = await runCli(["lora", "extract", "stories:base", tuned, "--rank", "2", "--out", "notes:r2", "--json"], { env });
    assert.equal(extracted.code, 0, extracted.stderr);
    assert.equal((JSON.parse(extracted.stdout) as { output: string; signed: boolean }).output, "notes:r2");
    const entry = ModelStore.open(loadConfig({ env }).config).require("notes:r2");
    assert.deepEqual(entry.manifest.adapter_of, { name: "stories:base", sha256: baseSha });
    assert.deepEqual(entry.manifest.source, { type: "extracted", from: tuned, tool: "edgelm lora extract --rank 2" });
    assert.ok(entry.signature, "signed with the device key");

    const wrong = await runCli(["add", adapter, "--base", "stories:tuned", "--name", "wrong:v1"], { env });
    assert.equal(wrong.code, 4, wrong.stderr);
    assert.match(wrong.stderr, /was made for a base with SHA-256 [0-9a-f]{16}…, not stories:tuned/);
    const asModel = await runCli(["serve", "--model", "notes:v1", "--port", "0"], { env });
    assert.equal(asModel.code, 3, asModel.stderr);
    assert.match(asModel.stderr, /notes:v1 is a LoRA adapter of stories:base, not a model/);

    const { config } = loadConfig({ env, flags: { server: { models: [{ name: "s", ref: "stories:base", adapters: [{ ref: "notes:v1" }, { name: "r2", ref: "notes:r2" }, { name: "file", path: adapter }] }] } } });
    const plan = await planServedModels(config);
    assert.deepEqual(plan.specs[0]!.adapters, [{ name: "notes", ref: "notes:v1" }, { name: "r2", ref: "notes:r2" }, { name: "file", path: adapter }]);
    const notAdapter = loadConfig({ env, flags: { server: { models: [{ name: "s", ref: "stories:base", adapters: [{ ref: "stories:tuned" }] }] } } }).config;
    await assert.rejects(planServedModels(notAdapter), /stories:tuned is a model, not a LoRA adapter/);
    const both = checkConfig({ server: { models: [{ name: "s", ref: "stories:base", adapters: [{ name: "x", ref: "notes:v1", path: adapter }] }] } });
    assert.ok(both.some((e) => /give `path` \(a GGUF adapter file\) or `ref`/.test(e)), JSON.stringify(both));
  });

  describe("served by store name on llama-server", () => {
    let fixture: GatewayFixture | undefined;
    before(async () => {
      fixture = await startGateway({
        models: [
          storiesModel({ ref: "stories:base", adapters: [{ name: "notes", ref: "notes:v1" }] }),
          storiesModel({ name: "tuned-weights", ref: tuned, parallel: 1 }),
          storiesModel({ name: "other", ref: "stories:tuned", parallel: 1, adapters: [{ name: "notes", ref: "notes:v1" }] }),
        ],
        config: { home, engine: { backend: "llama-server", llama_server: await testLlamaServer() } },
      });
    });
    after(async () => fixture?.close());

    const complete = async (model: string): Promise<{ status: number; text: string; message: string }> => {
      const r = await fetch(`${fixture!.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, prompt: "Once upon a time", max_tokens: 24, temperature: 0 }) });
      const body = (await r.json()) as { choices?: Array<{ text: string }>; error?: { message: string } };
      return { status: r.status, text: body.choices?.[0]?.text ?? "", message: body.error?.message ?? "" };
    };

    it("applies the stored adapter per request; over another base it is integrity_mismatch; a changed blob is refused at the next load", async () => {
      const base = await complete("stories");
      const adapted = await complete("stories+notes");
      assert.equal(adapted.status, 200, adapted.message);
      assert.notEqual(adapted.text, base.text, "the adapter changes the answer");
      assert.equal(adapted.text, (await complete("tuned-weights")).text, "base + stored adapter answers as the tuned weights");

      const other = fixture!.gateway.models().find((m) => m.name === "other")!;
      assert.equal(other.state, "failed");
      assert.match(other.reason ?? "", /adapter notes \(notes:v1\) is an adapter of stories:base \(SHA-256 [0-9a-f]{16}…\), and model other serves a file with SHA-256/);
      const refused = await complete("other+notes");
      assert.equal(refused.status, 503);
      assert.match(refused.message, /is an adapter of stories:base/);

      // The adapter's blob changes on disk: the next load verifies it again and refuses it.
      const blob = ModelStore.open(loadConfig({ env }).config).require("notes:v1").model.path;
      chmodSync(blob, 0o644);
      const fd = openSync(blob, "r+");
      writeSync(fd, Buffer.from([0x7f, 0x7f, 0x7f, 0x7f]), 0, 4, 4096);
      closeSync(fd);
      await fixture!.gateway.pool("stories")!.unload();
      const tampered = await complete("stories+notes");
      assert.equal(tampered.status, 503);
      assert.match(tampered.message, /model notes:v1: .* does not match its manifest/);
    });
  });
});
