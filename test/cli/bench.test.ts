import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli, tempHome, TEST_MODEL } from "../helpers.js";

const SMALL = ["--prompt-tokens", "16", "--gen-tokens", "8", "--rounds", "2"];

describe("edgelm bench (CLI, end to end)", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  before(() => {
    ({ home, cleanup } = tempHome());
    // No power sensors: an empty sysfs tree (this also holds on machines that have them).
    mkdirSync(join(home, "sysfs-empty"), { recursive: true });
    env = { EDGELM_HOME: home, EDGELM_SYSFS_ROOT: join(home, "sysfs-empty") };
  });
  after(() => cleanup());

  it("benchmarks stories260K: tuned threads (measured, then cached) against each fixed count, with JSON output", async () => {
    const r = await runCli(["bench", TEST_MODEL, ...SMALL, "--thread-counts", "1,2", "--json"], { env, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.model.name, "stories260K");
    assert.equal(report.engine.backend, "node-llama-cpp");
    assert.match(report.engine.build, /node-llama-cpp 3\.21\.1 (prebuilt|local build)/);
    assert.ok(report.loadMs > 0);
    assert.equal(report.tuned.source, "measured");
    assert.deepEqual(report.threadTuning.threads, report.tuned.threads);
    assert.deepEqual(
      report.fixed.map((f: { threads: unknown }) => f.threads),
      [
        { prompt: 1, decode: 1 },
        { prompt: 2, decode: 2 },
      ],
    );
    for (const s of [report.tuned, ...report.fixed]) assert.equal(s.runs.length, 2, "one run per setting per round");
    const t = report.tuned;
    assert.equal(t.runs[0].completionTokens, 8, "end of text is ignored: fixed-length runs");
    assert.ok(t.runs[0].promptTokens >= 12 && t.runs[0].promptTokens <= 20, String(t.runs[0].promptTokens));
    assert.ok(t.timeToFirstTokenMs.p50 > 0 && t.timeToFirstTokenMs.p95 >= t.timeToFirstTokenMs.p50);
    assert.ok(t.perTokenMs.p50 > 0 && t.perTokenMs.p95 >= t.perTokenMs.p50);
    assert.ok(t.decodeTokensPerSecond > 0 && t.promptTokensPerSecond > 0 && t.tokensPerMinute > 0);
    assert.ok(report.peakRssBytes > 10e6);
    assert.equal(report.power, null, "no power reading: null, never an estimate");
    assert.ok(report.bestFixed.decode.threads === 1 || report.bestFixed.decode.threads === 2);
    assert.equal(typeof report.tunedVsBestFixed.within5Percent, "boolean");
    assert.equal(report.tunedVsBestFixed.decode, Math.round((t.decodeTokensPerSecond / report.bestFixed.decode.tokensPerSecond) * 1000) / 1000);

    const again = await runCli(["bench", TEST_MODEL, ...SMALL, "--thread-counts", "1", "--json"], { env, timeoutMs: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    const cached = JSON.parse(again.stdout);
    assert.equal(cached.tuned.source, "cached");
    // The first benchmark keeps the calibration's choice, or replaces it when its own (longer) measurements disagree.
    assert.deepEqual(cached.tuned.threads, report.retuned ?? report.tuned.threads);
  });

  it("replaces a cached choice that its own measurements contradict", async () => {
    // Seed the cache with a poor choice: one thread more than there are cores (ggml's spinning
    // barriers then wait for a thread that has no core), far slower than 1 thread.
    const file = join(home, "cache", "thread-tuning.json");
    const data = JSON.parse(readFileSync(file, "utf8"));
    const keys = Object.keys(data.entries);
    assert.equal(keys.length, 1);
    const poor = availableParallelism() + 1;
    data.entries[keys[0]!].threads = { prompt: poor, decode: poor };
    writeFileSync(file, JSON.stringify(data));
    const tiny = ["--prompt-tokens", "4", "--gen-tokens", "2", "--rounds", "2"];
    const r = await runCli(["bench", TEST_MODEL, ...tiny, "--thread-counts", "1", "--json"], { env, timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.tuned.source, "cached");
    assert.deepEqual(report.tuned.threads, { prompt: poor, decode: poor });
    assert.equal(report.tunedVsBestFixed.within5Percent, false, JSON.stringify(report.tunedVsBestFixed));
    assert.deepEqual(report.retuned, { prompt: 1, decode: 1 }, "the only fixed count measured");
    const stored = JSON.parse(readFileSync(file, "utf8")).entries[keys[0]!];
    assert.deepEqual(stored.threads, { prompt: 1, decode: 1 });
    assert.equal(stored.candidates[0].decodeSamples.length, 2);
  });

  it("prints a table with n/a for power, and benchmarks the built-in demo model by default", async () => {
    const r = await runCli(["bench", ...SMALL, "--thread-counts", "1", "--threads", "1"], { env, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /using the built-in demo model/);
    assert.match(r.stdout, /^demo/m);
    assert.match(r.stdout, /threads \(prompt\/decode\)\s+1\/1 \(configured\)/);
    assert.match(r.stdout, /decode\s+[\d,.]+ tokens\/s/);
    assert.match(r.stdout, /time to first token\s+p50 [\d.]+ ms · p95/);
    assert.match(r.stdout, /power\s+n\/a \(no RAPL, hwmon or battery power reading/);
    assert.match(r.stdout, /energy per token\s+n\/a/);
    assert.match(r.stdout, /fixed 1\s+1\/1/);
    assert.match(r.stdout, /tuned vs best fixed: decode [\d.]+x/);
  });

  it("computes power and energy per token from the machine's power reading", async () => {
    const sysfs = join(home, "sysfs-hwmon");
    mkdirSync(join(sysfs, "class/hwmon/hwmon0"), { recursive: true });
    writeFileSync(join(sysfs, "class/hwmon/hwmon0/name"), "ina219\n");
    writeFileSync(join(sysfs, "class/hwmon/hwmon0/power1_input"), "5000000\n"); // 5 W
    const r = await runCli(["bench", TEST_MODEL, ...SMALL, "--thread-counts", "1", "--threads", "1", "--json"], {
      env: { ...env, EDGELM_SYSFS_ROOT: sysfs },
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    const p = report.power;
    assert.equal(p.source, "hwmon ina219 power1");
    assert.ok(Math.abs(p.averageWatts - 5) < 1e-6, String(p.averageWatts));
    const tokens = report.tuned.runs.reduce((s: number, x: { completionTokens: number }) => s + x.completionTokens, 0);
    assert.equal(tokens, 16);
    assert.ok(Math.abs(p.joulesPerToken - (5 * p.seconds) / tokens) < 1e-6, `${p.joulesPerToken} vs ${(5 * p.seconds) / tokens}`);
  });

  it("rejects bad flags with one line and a usage exit code", async () => {
    for (const args of [
      ["--thread-counts", "1,abc"],
      ["--thread-counts", "0"],
      ["--rounds", "0"],
      ["--gen-tokens", "-5"],
      ["--prompt-tokens", "x"],
    ]) {
      const r = await runCli(["bench", TEST_MODEL, ...args], { env });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^edgelm: .*(thread-counts|rounds|gen-tokens|prompt-tokens)/m);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
    const missing = await runCli(["bench", "/nonexistent/model.gguf"], { env });
    assert.notEqual(missing.code, 0);
    assert.equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
  });
});
