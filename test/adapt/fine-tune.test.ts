import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fineTuneModel, trainingContexts } from "../../src/adapt/fine-tune-model.js";
import { loadConfig } from "../../src/config/load-config.js";
import { EdgeError } from "../../src/errors.js";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { summarizeGguf } from "../../src/gguf/gguf-summary.js";
import { estimateTrainingMemory } from "../../src/gguf/training-memory-estimate.js";
import { resolveModel } from "../../src/store/resolve-model.js";
import { assertOneLine, runCli, tempHome, TEST_MODEL, testTrainer } from "../helpers.js";
import { SHARD_BAKERY, SHARD_BOAT, SHARD_GARDEN } from "./training-stories.js";

/** Every manifest and blob of a store, with its bytes' hash: what "nothing else changed" compares. */
function storeSnapshot(home: string, except: string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (!except.some((e) => full.includes(e))) out.set(full.slice(home.length), createHash("sha256").update(readFileSync(full)).digest("hex"));
    }
  };
  for (const part of ["manifests", "blobs"]) walk(join(home, part));
  return out;
}

describe("edgelm finetune (stories260K, the real trainer)", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  let textFile: string;
  const text = [SHARD_GARDEN, SHARD_BOAT, SHARD_BAKERY].join("\n");
  before(async () => {
    ({ home, cleanup } = tempHome());
    env = { EDGELM_HOME: home, EDGELM_TRAINER: await testTrainer() };
    textFile = join(home, "stories.txt");
    writeFileSync(textFile, text);
    const added = await runCli(["add", TEST_MODEL, "--name", "stories:base"], { env });
    assert.equal(added.code, 0, added.stderr);
    assert.equal((await runCli(["add", TEST_MODEL, "--name", "other:one"], { env })).code, 0);
  });
  after(() => cleanup());

  const perplexity = async (model: string): Promise<number> => {
    const r = await runCli(["eval", model, "--text", textFile, "--window", "128", "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { perplexity: number }).perplexity;
  };

  it("lowers perplexity on its own text, stores a signed version of its base, and changes nothing else in the store", async () => {
    assert.equal((await runCli(["keygen", "-o", join(home, "keys")], { env })).code, 0);
    writeFileSync(join(home, "config.yaml"), `trust:\n  local_key: ${join(home, "keys", "private.pem")}\n`);
    const before = storeSnapshot(home);
    const basePerplexity = await perplexity("stories:base");
    const r = await runCli(["finetune", "stories:base", "--text", textFile, "--out", "stories:tuned", "--epochs", "2", "--context", "64", "--json"], {
      env,
      timeoutMs: 180_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", "no progress drawn when stderr is not a terminal");
    const report = JSON.parse(r.stdout) as {
      store: { reference: string; fine_tuned_from: string; signed: boolean; sha256: string };
      training: Record<string, unknown>;
      epochs: Array<{ train_loss: number; val_loss: number | null; train_contexts: number; val_contexts: number }>;
      trained_tokens: number;
      tokens_per_second: number;
    };
    assert.deepEqual([report.store.reference, report.store.fine_tuned_from, report.store.signed], ["stories:tuned", "stories:base", true]);
    assert.equal(report.epochs.length, 2);
    assert.ok(report.epochs[1]!.train_loss < report.epochs[0]!.train_loss, `training loss falls: ${JSON.stringify(report.epochs)}`);
    assert.ok(report.epochs.every((e) => e.val_contexts >= 1 && e.val_loss !== null));
    assert.ok(report.trained_tokens > 0 && report.tokens_per_second > 0);

    const tunedPerplexity = await perplexity("stories:tuned");
    assert.ok(tunedPerplexity < basePerplexity * 0.9, `perplexity on the training text: ${basePerplexity} → ${tunedPerplexity}`);

    // The manifest records the data's hash and size, never the data (nor any sentence of it).
    const manifestPath = join(home, "manifests", "stories", "tuned.json");
    const manifestText = readFileSync(manifestPath, "utf8");
    const manifest = JSON.parse(manifestText) as Record<string, any>;
    assert.equal(manifest.fine_tuned_from, "stories:base");
    assert.equal(manifest.variant_of, null, "a fine-tuned version is not a precision variant");
    assert.deepEqual(manifest.source, { type: "fine-tuned", from: "stories:base", tool: manifest.source.tool });
    assert.equal(manifest.training.data_sha256, createHash("sha256").update(text).digest("hex"));
    assert.equal(manifest.training.data_bytes, Buffer.byteLength(text));
    assert.equal(manifest.training.base_sha256, createHash("sha256").update(readFileSync(TEST_MODEL)).digest("hex"));
    assert.equal(manifest.training.epochs, 2);
    assert.equal(manifest.training.context_size, 64);
    for (const sentence of text.split(/(?<=[.!?])\s+/).filter((s) => s.length > 12)) assert.ok(!manifestText.includes(sentence), sentence);
    assert.ok(!manifestText.includes("stories.txt"), "not even the file name");

    // Nothing else in the store changed: every earlier manifest and blob is byte for byte the same.
    const afterwards = storeSnapshot(home);
    for (const [path, hash] of before) assert.equal(afterwards.get(path), hash, path);
    const added = [...afterwards.keys()].filter((p) => !before.has(p));
    assert.equal(added.length, 3, `the new manifest, model and signature only: ${added.join(", ")}`);
    assert.deepEqual(readdirSync(join(home, "tmp")), [], "no scratch files left (the text copy included)");

    // The signature verifies under the device's own key, and the version loads and runs.
    const verify = await runCli(["verify", "stories:tuned", "--json"], { env });
    assert.equal(verify.code, 0, verify.stderr);
    const run = await runCli(["run", "stories:tuned", "Once upon a time", "-n", "8", "-t", "0", "--json"], { env });
    assert.equal(run.code, 0, run.stderr);
    writeFileSync(join(home, "config.yaml"), "");
  });

  it("trains an F16 model on a folder of text files, into a file, with SGD", async () => {
    const f16 = join(home, "f16.gguf");
    assert.equal((await runCli(["quantize", TEST_MODEL, f16, "-t", "f16"], { env })).code, 0);
    const folder = join(home, "shards");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(folder, "b"), { recursive: true });
    writeFileSync(join(folder, "a.txt"), SHARD_GARDEN + SHARD_BOAT);
    writeFileSync(join(folder, "b", "c.md"), SHARD_BAKERY);
    writeFileSync(join(folder, "b", "image.png"), "not text");
    const out = join(home, "tuned-sgd.gguf");
    const r = await runCli(["finetune", f16, "--text", folder, "--out", out, "--epochs", "1", "--context", "64", "--optimizer", "sgd", "--learning-rate", "1e-3", "--json"], {
      env,
      timeoutMs: 180_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { output: string; store: null; training: { data_files: number; optimizer: string } };
    assert.deepEqual([report.output, report.store, report.training.data_files, report.training.optimizer], [out, null, 2, "sgd"]);
    assert.equal(readGguf(out).tensors.length, readGguf(TEST_MODEL).tensors.length);
    assert.ok(readGguf(out).tensors.every((t) => t.type.name === "F32"), "trained as an F32 copy");
    assert.deepEqual(readdirSync(join(home, "tmp")), [], "the F32 copy and the text copy are gone");
  });

  it("refuses before any work, with one line naming what is wrong", async () => {
    const tiny = join(home, "tiny.txt");
    writeFileSync(tiny, "Once upon a time there was a cat.");
    const empty = join(home, "empty.txt");
    writeFileSync(empty, "  \n");
    const binary = join(home, "binary.txt");
    writeFileSync(binary, Buffer.from([0x4f, 0x6e, 0x00, 0x63, 0x65]));
    const q8 = join(home, "q8.gguf");
    assert.equal((await runCli(["quantize", TEST_MODEL, q8, "-t", "q8_0"], { env })).code, 0);
    const cases: Array<[string, string[], RegExp, Record<string, string>?]> = [
      ["a text too short for its contexts", ["stories:base", "--text", tiny, "--out", "stories:x", "--context", "64"], /the text is \d+ tokens; contexts of 64 tokens with a 0\.1 validation split need at least \d+/],
      ["an empty text", ["stories:base", "--text", empty, "--out", "stories:x"], /is empty/],
      ["a binary file", ["stories:base", "--text", binary, "--out", "stories:x"], /is not a text file \(it holds NUL bytes\)/],
      ["a missing text", ["stories:base", "--text", join(home, "nope.txt"), "--out", "stories:x"], /nope\.txt: no such file or directory/],
      ["a quantized model", [q8, "--text", textFile, "--out", join(home, "x.gguf")], /holds Q8_0 weights .*fine-tuning needs an F32, F16 or BF16 model/],
      ["a base outside the store with a name:tag output", [TEST_MODEL, "--text", textFile, "--out", "stories:x"], /stories260K is not in the store, so stories:x cannot be recorded as its version/],
      ["the base as its own output", ["stories:base", "--text", textFile, "--out", "stories:base"], /stories:base is the model being fine-tuned/],
      ["an existing output", ["stories:base", "--text", textFile, "--out", "other:one"], /other:one is already in the store; choose another tag or pass --force/],
      ["a context past the model's", ["stories:base", "--text", textFile, "--out", "stories:x", "--context", "100000"], /--context must be an integer from 8 to the model's training context \(\d+\)/],
      ["a validation split of 1", ["stories:base", "--text", textFile, "--out", "stories:x", "--validation-split", "1"], /--validation-split must be at most 0\.9/],
      ["zero epochs", ["stories:base", "--text", textFile, "--out", "stories:x", "--epochs", "0"], /--epochs must be between 1 and 1000/],
      ["an unknown optimizer", ["stories:base", "--text", textFile, "--out", "stories:x", "--optimizer", "adam"], /--optimizer must be adamw or sgd/],
      ["no trainer", ["stories:base", "--text", textFile, "--out", "stories:x"], /no trainer is built on this device: run `edgelm engine build --backend trainer`/, { EDGELM_TRAINER: "" }],
    ];
    const before = storeSnapshot(home);
    for (const [what, args, pattern, extra] of cases) {
      const r = await runCli(["finetune", ...args], { env: { ...env, ...extra } });
      assert.notEqual(r.code, 0, what);
      assert.match(r.stderr, pattern, what);
      assertOneLine(r.stderr.split("\n").filter((l) => !/run with --help/.test(l)).join("\n"));
    }
    assert.deepEqual(storeSnapshot(home), before, "a refusal leaves the store as it was");
  });

  it("refuses a model whose training does not fit the memory, with the estimate's parts", async () => {
    const { config } = loadConfig({ env: { EDGELM_HOME: home, EDGELM_TRAINER: await testTrainer() } });
    const base = await resolveModel("stories:base", config, { allowDownload: false });
    const file = readGguf(TEST_MODEL);
    const estimate = estimateTrainingMemory(file, summarizeGguf(file), 64);
    await assert.rejects(
      fineTuneModel(base, textFile, "stories:big", config, { contextSize: 64, availableMemoryBytes: estimate.totalBytes - 1 }),
      (error: unknown) =>
        error instanceof EdgeError &&
        error.code === "insufficient_memory" &&
        /needs about [\d.]+ MiB \(weights [\d.]+ MiB \+ gradients [\d.]+ MiB \+ adamw state [\d.]+ MiB \+ activations [\d.]+ MiB at 64 tokens/.test(error.message),
    );
    // SGD keeps no optimizer state: less memory for the same model.
    assert.ok(estimateTrainingMemory(file, summarizeGguf(file), 64, "sgd").totalBytes < estimate.totalBytes);
    assert.equal(estimate.weightsBytes, 4 * file.tensors.reduce((s, t) => s + t.elementCount, 0));
    assert.equal(estimate.optimizerStateBytes, 2 * estimate.weightsBytes);
    assert.equal(statSync(join(home, "manifests", "stories")).isDirectory(), true);
  });

  it("counts training contexts as llama.cpp's trainer cuts them", () => {
    assert.equal(trainingContexts(64, 64), 0);
    assert.equal(trainingContexts(65, 64), 0);
    assert.equal(trainingContexts(97, 64), 1);
    assert.equal(trainingContexts(1000, 64), Math.floor(935 / 32));
  });
});
