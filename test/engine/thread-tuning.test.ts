import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { NodeLlamaCppBackend, splitThreadsPerPhase } from "../../src/engine/node-llama-cpp-backend.js";
import {
  applyThreadTuning,
  calibrateThreads,
  median,
  quantile,
  threadCandidates,
  ThreadTuningCache,
  tuningKey,
  type ThreadTuning,
} from "../../src/engine/thread-tuning.js";
import type { LoadedModel } from "../../src/engine/types.js";
import { tuningFromBenchmark, type BenchmarkReport } from "../../src/engine/model-benchmark.js";
import { tempHome, TEST_MODEL } from "../helpers.js";

describe("thread tuning: pure parts", () => {
  it("proposes every count up to 4, then a few steps up to all cores", () => {
    assert.deepEqual(threadCandidates(1), [1]);
    assert.deepEqual(threadCandidates(2), [1, 2]);
    assert.deepEqual(threadCandidates(4), [1, 2, 3, 4]);
    assert.deepEqual(threadCandidates(8), [1, 2, 3, 4, 6, 8]);
    const many = threadCandidates(96);
    assert.ok(many.length <= 8);
    assert.equal(many[0], 1);
    assert.equal(many[many.length - 1], 96);
  });

  it("computes medians and quantiles", () => {
    assert.equal(median([]), null);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(quantile([10, 20, 30, 40, 50], 0.5), 30);
    assert.equal(quantile([10, 20], 0.95), 19.5);
  });

  it("makes a context use prompt threads for batches and decode threads for single tokens", () => {
    const calls: number[] = [];
    // The native context's methods as node-llama-cpp 3.21.1 calls them: initBatch(size), then setThreads(n) per batch.
    const proto = {
      initBatch(this: { size: number }, size: number) {
        this.size = size;
      },
      setThreads(n: number) {
        calls.push(n);
      },
    };
    for (const method of Object.keys(proto)) Object.defineProperty(proto, method, { writable: false });
    const native = Object.create(proto) as { initBatch(size: number): void; setThreads(n: number): void };
    const context = { _ctx: native } as never;
    let threads = { prompt: 4, decode: 1 };
    assert.equal(splitThreadsPerPhase(context, () => threads), true);
    native.initBatch(37);
    native.setThreads(99); // node-llama-cpp asks for its single value; the batch size decides
    native.initBatch(1);
    native.setThreads(99);
    threads = { prompt: 2, decode: 3 };
    native.initBatch(4); // four sequences decoding together: a batch, as llama.cpp itself decides
    native.setThreads(99);
    assert.deepEqual(calls, [4, 1, 2]);
    assert.equal(splitThreadsPerPhase({ _ctx: {} } as never, () => threads), false, "internals missing: no split");
  });

  it("turns a benchmark's fixed-count medians into a cached choice: per phase, the fewest threads within 3% of the best", () => {
    const fixed = (n: number, prompt: number, decode: number) => ({
      label: `fixed ${n}`,
      threads: { prompt: n, decode: n },
      runs: [{ timeToFirstTokenMs: 1, promptTokens: 16, completionTokens: 8, promptTokensPerSecond: prompt, decodeTokensPerSecond: decode, totalMs: 10 }],
      timeToFirstTokenMs: { p50: 1, p95: 1 },
      perTokenMs: { p50: 1, p95: 1 },
      decodeTokensPerSecond: decode,
      promptTokensPerSecond: prompt,
      tokensPerMinute: 1,
    });
    const report = {
      fixed: [fixed(1, 100, 50), fixed(2, 190, 49), fixed(4, 200, 30)],
      workload: { promptTokens: 16, generatedTokens: 8, rounds: 1 },
      machine: { cpu: "x", cores: 4 },
      engine: { backend: "node-llama-cpp", build: "b", threadsPerPhase: true },
    } as unknown as BenchmarkReport;
    const tuning = tuningFromBenchmark(report, TEST_MODEL)!;
    assert.deepEqual(tuning.threads, { prompt: 4, decode: 1 }, "prompt: 200 beats 190 by more than 3%; decode: 50 vs 49 is within 3%");
    assert.equal(tuning.engineBuild, "b");
    assert.equal(tuningFromBenchmark({ ...report, fixed: [] } as BenchmarkReport, TEST_MODEL), null);
  });

  it("caches results per model file, machine and engine build", () => {
    const { home, cleanup } = tempHome();
    try {
      const cache = new ThreadTuningCache(home);
      const key = tuningKey(TEST_MODEL, "build A");
      assert.notEqual(key, tuningKey(TEST_MODEL, "build B"));
      assert.notEqual(key, tuningKey(TEST_MODEL, "build A", { cpu: "other", cores: 2 }));
      assert.equal(cache.get(key), undefined);
      const tuning = { threads: { prompt: 2, decode: 1 }, candidates: [] } as unknown as ThreadTuning;
      cache.set(key, tuning);
      const hit = cache.get(key)!;
      assert.deepEqual(hit.threads, { prompt: 2, decode: 1 });
      assert.equal(hit.cached, true);
      writeFileSync(cache.file, "{ not json");
      assert.equal(cache.get(key), undefined, "a damaged cache means measure again");
    } finally {
      cleanup();
    }
  });
});

describe("thread tuning on a real model (stories260K)", () => {
  let model: LoadedModel;
  let home: string;
  let cleanup: () => void;
  before(async () => {
    ({ home, cleanup } = tempHome());
    model = await new NodeLlamaCppBackend().load({ path: TEST_MODEL, contextSize: 256 });
  });
  after(async () => {
    await model?.dispose();
    cleanup();
  });

  it("splits threads per phase on the pinned node-llama-cpp and can change them on a loaded model", async () => {
    assert.equal(model.info.threadsPerPhase, true);
    model.setThreads!({ prompt: 2, decode: 1 });
    assert.deepEqual(model.info.threads, { prompt: 2, decode: 1 });
    const stream = await model.generate({ prompt: "Once upon a time", maxTokens: 8, temperature: 0 });
    for await (const _ of stream);
    assert.equal((await stream.result).timings.completionTokens, 8);
    assert.throws(() => model.setThreads!({ prompt: 0, decode: 1 }), /positive integer/);
  });

  it("measures every candidate, interleaved, and picks a count per phase", async () => {
    const tuning = await calibrateThreads(model, { candidates: [1, 2], budgetMs: 2_000 });
    assert.deepEqual(
      tuning.candidates.map((c) => c.threads),
      [1, 2],
    );
    for (const c of tuning.candidates) {
      assert.ok(c.decodeSamples.length >= 1 && c.promptSamples.length >= 1, JSON.stringify(c));
      // A candidate can be so slow on a loaded machine that its run ends at the deadline with no token (rate 0).
      assert.ok(c.decodeTokensPerSecond! >= 0);
    }
    assert.ok(tuning.candidates.some((c) => c.decodeTokensPerSecond! > 0), JSON.stringify(tuning.candidates));
    assert.ok([1, 2].includes(tuning.threads.prompt) && [1, 2].includes(tuning.threads.decode));
    // The chosen decode count is the fastest (or within 3% of it with fewer threads).
    const best = Math.max(...tuning.candidates.map((c) => c.decodeTokensPerSecond!));
    const chosen = tuning.candidates.find((c) => c.threads === tuning.threads.decode)!;
    assert.ok(chosen.decodeTokensPerSecond! >= best * 0.97);
    assert.deepEqual(model.info.threads, tuning.threads, "the model is left at the choice");
    assert.equal(tuning.engineBuild, model.info.engineBuild);
    assert.match(tuning.engineBuild, /node-llama-cpp \d+\.\d+\.\d+ (prebuilt|local build)/);
  });

  it("measures once, then applies the cached choice; --retune measures again", async () => {
    let measured = 0;
    const first = await applyThreadTuning(model, home, { candidates: [1, 2], budgetMs: 1_500, onMeasure: () => measured++ });
    assert.equal(measured, 1);
    assert.equal(first!.cached, undefined);
    model.setThreads!({ prompt: 1, decode: 2 }); // something else, to see the cached choice applied
    const second = await applyThreadTuning(model, home, { onMeasure: () => measured++ });
    assert.equal(measured, 1);
    assert.equal(second!.cached, true);
    assert.deepEqual(second!.threads, first!.threads);
    assert.deepEqual(model.info.threads, first!.threads);
    await applyThreadTuning(model, home, { retune: true, candidates: [1], budgetMs: 500, onMeasure: () => measured++ });
    assert.equal(measured, 2);
  });
});
