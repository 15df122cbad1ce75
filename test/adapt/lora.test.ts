import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fineTuneModel } from "../../src/adapt/fine-tune-model.js";
import { lowRankFactors } from "../../src/adapt/low-rank.js";
import { extractLora, mergeLora, parseAdapterFlag, readLoraAdapter } from "../../src/adapt/lora-adapter.js";
import { loadConfig } from "../../src/config/load-config.js";
import type { Config } from "../../src/config/schema.js";
import { openResolvedModel } from "../../src/engine/open-model.js";
import type { LoadedModel } from "../../src/engine/types.js";
import { EdgeError } from "../../src/errors.js";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { evaluateText } from "../../src/quality/evaluate-text.js";
import { resolveModel } from "../../src/store/resolve-model.js";
import { assertOneLine, runCli, tempHome, TEST_MODEL, testTrainer } from "../helpers.js";
import { matricesOnly } from "./matrices-only.js";
import { SHARD_BAKERY, SHARD_BOAT, SHARD_GARDEN } from "./training-stories.js";

describe("LoRA adapters: extract and merge (stories260K, a real fine-tune, node-llama-cpp)", () => {
  let home: string;
  let cleanup: () => void;
  let config: Config;
  const text = [SHARD_GARDEN, SHARD_BOAT, SHARD_BAKERY].join("\n");
  let tuned: string;
  let tuned2d: string;
  const loaded: LoadedModel[] = [];
  const load = async (path: string, adapters?: Array<{ path: string; scale: number }>): Promise<LoadedModel> => {
    const resolved = await resolveModel(path, config, { allowDownload: false });
    const model = (await openResolvedModel(resolved, config, { parallel: 1, contextSize: 128, threads: { prompt: 1, decode: 1 }, ...(adapters ? { adapters } : {}) })).model;
    loaded.push(model);
    return model;
  };
  const kl = async (model: LoadedModel, reference: LoadedModel): Promise<number> => (await evaluateText(model, text, { reference, windowSize: 128 })).reference!.meanKl;

  before(async () => {
    ({ home, cleanup } = tempHome());
    ({ config } = loadConfig({ env: { EDGELM_HOME: home, EDGELM_TRAINER: await testTrainer(), EDGELM_ENGINE: "node-llama-cpp" } }));
    const textFile = join(home, "text.txt");
    writeFileSync(textFile, text);
    tuned = join(home, "tuned.gguf");
    const base = await resolveModel(TEST_MODEL, config, { allowDownload: false });
    await fineTuneModel(base, textFile, tuned, config, { epochs: 2, contextSize: 64 });
    tuned2d = join(home, "tuned-2d.gguf");
    await matricesOnly(TEST_MODEL, tuned, tuned2d);
  });
  after(async () => {
    await Promise.all(loaded.map((m) => m.dispose()));
    cleanup();
  });

  it("at full rank reproduces the tuned weights' next-token distributions in a real engine load (KL ≈ 0), and merges back", async (t) => {
    const adapter = join(home, "full.gguf");
    const report = await extractLora(TEST_MODEL, tuned, adapter, { rank: 172 });
    assert.ok(report.tensors.length > 0);
    for (const t of report.tensors) {
      assert.equal(t.rank, Math.min(t.rows, t.cols));
      assert.ok(t.retained > 0.999999, `${t.name} retains ${t.retained}`);
    }
    assert.ok(report.notRepresentable.length > 0 && report.notRepresentable.every((t) => !t.name.includes("weight") || readGguf(TEST_MODEL).tensors.find((x) => x.name === t.name)!.dims.length === 1));
    const read = readLoraAdapter(adapter);
    assert.equal(read.file.metadata["general.type"], "adapter");
    assert.equal(read.file.metadata["adapter.type"], "lora");
    assert.equal(read.file.metadata["general.architecture"], "llama");
    assert.equal(read.alpha, 172);

    const base = await load(TEST_MODEL);
    const withAdapter = await load(TEST_MODEL, [{ path: adapter, scale: 1 }]);
    const reference = await load(tuned2d);
    const adapted = await kl(withAdapter, reference);
    const untouched = await kl(base, reference);
    assert.ok(adapted < 1e-5, `KL(tuned matrices ‖ base + full-rank adapter) = ${adapted}`);
    assert.ok(untouched > 1000 * adapted, `the adapter is what closes the gap: base KL ${untouched}, adapted ${adapted}`);
    // Against the whole tuned model the norms' deltas remain: small, and stated in the docs.
    const whole = await load(tuned);
    const withNorms = await kl(withAdapter, whole);
    const baseVsWhole = await kl(base, whole);
    assert.ok(withNorms < baseVsWhole, `KL(tuned ‖ base + adapter) ${withNorms} < KL(tuned ‖ base) ${baseVsWhole}`);
    t.diagnostic(`mean KL vs tuned matrices: base ${untouched.toExponential(3)}, base+full adapter ${adapted.toExponential(3)}; vs whole tuned model: base ${baseVsWhole.toExponential(3)}, base+adapter ${withNorms.toExponential(3)}; extract ${report.seconds.toFixed(2)} s, ${report.adapterBytes} bytes`);

    const merged = join(home, "merged.gguf");
    const r = await runCli(["lora", "merge", TEST_MODEL, adapter, "--out", merged, "--json"], { env: { EDGELM_HOME: home } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).merged_tensors, report.tensors.length);
    const mergedModel = await load(merged);
    assert.ok((await kl(mergedModel, reference)) < 1e-5, "merged = base + adapter");
  });

  it("at low rank retains a stated share of the delta, and sits between the base and the full adapter", async (t) => {
    const adapter = join(home, "r4.gguf");
    const r = await runCli(["lora", "extract", TEST_MODEL, tuned, "--rank", "4", "--out", adapter, "--json"], { env: { EDGELM_HOME: home } });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { retained: number; adapter_bytes: number; tensors: Array<{ rank: number; retained: number }> };
    assert.ok(report.tensors.every((t) => t.rank === 4 && t.retained > 0 && t.retained < 1));
    // Rank 4 of 64 keeps at least a fifth of a fine-tune's delta energy (measured: docs/adaptation.md).
    assert.ok(report.retained > 0.2 && report.retained < 1, `retained ${report.retained}`);
    const full = readFileSync(join(home, "full.gguf")).length;
    assert.ok(report.adapter_bytes < full / 5, `a rank-4 adapter is small: ${report.adapter_bytes} vs ${full} bytes`);
    const reference = await load(tuned2d);
    const low = await kl(await load(TEST_MODEL, [{ path: adapter, scale: 1 }]), reference);
    const base = await kl(await load(TEST_MODEL), reference);
    assert.ok(low < base, `rank 4 moves toward the tuned model: ${low} < ${base}`);
    t.diagnostic(`rank 4: retained ${(report.retained * 100).toFixed(1)}%, ${report.adapter_bytes} bytes, mean KL vs tuned matrices ${low.toExponential(3)} (base ${base.toExponential(3)})`);
  });

  it("factors a matrix exactly at full rank and optimally (Eckart–Young) below it", () => {
    const rows = 40;
    const cols = 24;
    const m = new Float64Array(rows * cols);
    // Known singular values: M = Σ σᵢ uᵢ vᵢᵀ with orthonormal uᵢ, vᵢ built from cosines.
    const sigma = Array.from({ length: cols }, (_, i) => 2 ** -i);
    const basis = (n: number, k: number): number[] => {
      const v = Array.from({ length: n }, (_, x) => Math.cos((Math.PI * (x + 0.5) * k) / n));
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    };
    for (let i = 0; i < cols; i++) {
      const u = basis(rows, i);
      const v = basis(cols, i);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m[r * cols + c]! += sigma[i]! * u[r]! * v[c]!;
    }
    const exact = lowRankFactors(m, rows, cols, cols);
    let error = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        let v = 0;
        for (let k = 0; k < cols; k++) v += exact.left[r * cols + k]! * exact.right[k * cols + c]!;
        error = Math.max(error, Math.abs(v - m[r * cols + c]!));
      }
    }
    assert.ok(error < 1e-12, `full rank reconstructs: max error ${error}`);
    const three = lowRankFactors(m, rows, cols, 3);
    const total = sigma.reduce((s, x) => s + x * x, 0);
    assert.ok(Math.abs(three.retained - (1 + 1 / 4 + 1 / 16) / total) < 1e-9, `rank 3 keeps σ₁²+σ₂²+σ₃²: ${three.retained}`);
    assert.throws(() => lowRankFactors(m, rows, cols, 0), RangeError);
  });

  it("edgelm run --lora applies an adapter at its scale; merge gives the same answer", async () => {
    const adapter = join(home, "full.gguf");
    const merged = join(home, "merged.gguf");
    const env = { EDGELM_HOME: home, EDGELM_ENGINE: "node-llama-cpp" };
    const answer = async (args: string[]): Promise<string> => {
      const r = await runCli(["run", ...args, "Once upon a time", "-n", "20", "-t", "0", "--json"], { env });
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { text: string }).text;
    };
    const base = await answer([TEST_MODEL]);
    const adapted = await answer([TEST_MODEL, "--lora", adapter]);
    assert.notEqual(adapted, base);
    assert.equal(await answer([merged]), adapted);
    assert.equal(await answer([TEST_MODEL, "--lora", `${adapter}:0`]), base, "scale 0 is the base");
    const wrong = await runCli(["run", tuned, "--lora", adapter, "Once", "-n", "2"], { env });
    assert.equal(wrong.code, 4);
    assert.match(wrong.stderr, /was made for a base with SHA-256/);
  });

  it("parses --lora values", () => {
    assert.deepEqual(parseAdapterFlag("a.gguf"), { path: "a.gguf", scale: 1 });
    assert.deepEqual(parseAdapterFlag("/x/a.gguf:0.5"), { path: "/x/a.gguf", scale: 0.5 });
    assert.deepEqual(parseAdapterFlag("c:/a:b.gguf:-2"), { path: "c:/a:b.gguf", scale: -2 });
    assert.throws(() => parseAdapterFlag("a.gguf:1000"), /the scale must be a number from -100 to 100/);
    assert.throws(() => parseAdapterFlag(":1"), /give an adapter file/);
  });

  it("refuses adapters that do not belong, with one line naming why", async () => {
    const adapter = join(home, "full.gguf");
    const other = join(home, "other-base.gguf");
    // Another base: the same shapes, other bytes (the tuned model itself).
    await assert.rejects(mergeLora(tuned, adapter, other), (e: unknown) => e instanceof EdgeError && e.code === "integrity_mismatch" && /was made for a base with SHA-256/.test(e.message));
    const cases: Array<[string, string[], RegExp]> = [
      ["a model as the adapter", ["lora", "merge", TEST_MODEL, TEST_MODEL, "--out", other], /is not a LoRA adapter \(general\.type/],
      ["another base", ["lora", "merge", tuned, adapter, "--out", other], /was made for a base with SHA-256/],
      ["rank 0", ["lora", "extract", TEST_MODEL, tuned, "--rank", "0", "--out", other], /--rank must be between 1 and 65536/],
      ["the same model twice", ["lora", "extract", TEST_MODEL, TEST_MODEL, "--rank", "4", "--out", other], /has the same weights as .*: there is no delta to extract/],
      ["a model of another shape", ["lora", "extract", TEST_MODEL, "demo", "--rank", "4", "--out", other], /is not a fine-tune of/],
    ];
    for (const [what, args, pattern] of cases) {
      const r = await runCli(args, { env: { EDGELM_HOME: home } });
      assert.notEqual(r.code, 0, what);
      assert.match(r.stderr, pattern, what);
      assertOneLine(r.stderr.split("\n").filter((l) => !/run with --help/.test(l)).join("\n"));
    }
  });
});
