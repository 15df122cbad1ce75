import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isEdgeError } from "../../src/errors.js";
import { parseGguf } from "../../src/gguf/gguf-reader.js";
import { GgufValueType, type TypedGgufValue } from "../../src/gguf/gguf-values.js";
import { encodeGguf } from "../../src/gguf/gguf-writer.js";
import { DEFAULT_HEADER_MEMORY_LIMITS } from "../../src/gguf/header-memory-budget.js";
import { CLI, REPO_ROOT, tempHome, TEST_MODEL } from "../helpers.js";
import { writeHugeU8ArrayGguf, writeNestedArraysGguf } from "./hostile-gguf.js";

const MiB = 1024 * 1024;

/** Reads `path` with readGguf in a fresh Node process: its outcome, time and peak RSS. */
function readInChild(path: string): { code: string; message: string; ms: number; maxRssMiB: number } {
  const script = `
    const { readGguf } = await import(${JSON.stringify(join(REPO_ROOT, "dist/src/gguf/gguf-reader.js"))});
    const started = performance.now();
    let code = "accepted", message = "";
    try { readGguf(process.argv[1]); } catch (e) { code = e.code ?? "crash"; message = e.message; }
    const ms = performance.now() - started;
    console.log(JSON.stringify({ code, message, ms, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));`;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script, path], { encoding: "utf8", timeout: 60_000 });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout);
}

/** A Node process that does nothing, for the baseline of peak RSS on this machine. */
function baselineRssMiB(): number {
  const child = spawnSync(process.execPath, ["-e", "console.log(process.resourceUsage().maxRSS / 1024)"], { encoding: "utf8" });
  return Number(child.stdout);
}

describe("GGUF header memory budget", () => {
  const hostile: Array<[name: string, write: (path: string) => void, message: RegExp]> = [
    ["a 64 MiB file holding one 2^26-item u8 array", writeHugeU8ArrayGguf, /"tokenizer\.ggml\.token_type" \(67108864 items\) would take about 512 MiB .* over the header budget of 128 MiB/],
    ["a 256 MiB file of 2^24 nested arrays", writeNestedArraysGguf, /"tokenizer\.ggml\.merges" \(16777216 items\) would take about 1152 MiB/],
  ];
  for (const [name, write, message] of hostile) {
    it(`rejects ${name} at once, in little memory`, () => {
      const dir = mkdtempSync(join(tmpdir(), "edgelm-gguf-budget-"));
      try {
        const path = join(dir, "hostile.gguf");
        write(path);
        const result = readInChild(path);
        console.log(`${name}: ${result.code} in ${result.ms.toFixed(1)} ms, peak RSS ${result.maxRssMiB.toFixed(0)} MiB`);
        assert.equal(result.code, "invalid_gguf", result.message);
        assert.match(result.message, message);
        assert.ok(result.ms < 1000, `took ${result.ms} ms`);
        assert.ok(result.maxRssMiB < 100, `peak RSS ${result.maxRssMiB} MiB (a Node doing nothing: ${baselineRssMiB()} MiB)`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it("still reads the largest vocabularies in the wild (262,144 tokens with scores and types, 280,147 merges)", async () => {
    const tokens = Array.from({ length: 262_144 }, (_, i) => `tok${i.toString(36)}`);
    const merges = Array.from({ length: 280_147 }, (_, i) => `m${i.toString(36)} n${i.toString(36)}`);
    const metadata = new Map<string, TypedGgufValue>([
      ["general.architecture", { type: GgufValueType.STRING, value: "llama" }],
      ["tokenizer.ggml.model", { type: GgufValueType.STRING, value: "gpt2" }],
      ["tokenizer.ggml.tokens", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: tokens }],
      ["tokenizer.ggml.scores", { type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, value: tokens.map((_, i) => -i / 7) }],
      ["tokenizer.ggml.token_type", { type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value: tokens.map(() => 1) }],
      ["tokenizer.ggml.merges", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: merges }],
    ]);
    // A vocabulary-only file (no tensors): the smallest file such a header comes in, so the tightest budget.
    const bytes = await encodeGguf({ metadata, tensors: [] });
    const file = parseGguf(bytes);
    assert.equal((file.metadata["tokenizer.ggml.tokens"] as string[])[262_143], tokens[262_143]);
    assert.equal((file.metadata["tokenizer.ggml.scores"] as number[])[7], -1);
    assert.equal((file.metadata["tokenizer.ggml.merges"] as string[]).length, 280_147);
  });

  it("charges strings, arrays, entries and tensor infos before allocating them, against floor + k × size, at most the cap", async () => {
    const doc = (value: TypedGgufValue) => encodeGguf({ metadata: new Map([["x", value]]), tensors: [] });
    const strings = await doc({ type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: Array.from({ length: 1000 }, () => "abcdefgh") });
    // 1000 × (8 slot + 24 string + 2 × 8 characters) = 48,000 bytes, plus one entry.
    const fits = { floorBytes: 48_500, perFileByte: 0, capBytes: MiB };
    assert.equal((parseGguf(strings, undefined, fits).metadata.x as string[]).length, 1000);
    const tooSmall = { floorBytes: 47_000, perFileByte: 0, capBytes: MiB };
    assert.throws(
      () => parseGguf(strings, undefined, tooSmall),
      (e: unknown) => isEdgeError(e) && e.code === "invalid_gguf" && (e.details as any).limit === "gguf_header_memory" && /metadata "x"/.test(e.message),
    );
    // The per-byte share and the cap.
    assert.ok(parseGguf(strings, undefined, { floorBytes: 0, perFileByte: 10, capBytes: MiB }));
    assert.throws(() => parseGguf(strings, undefined, { floorBytes: 0, perFileByte: 10, capBytes: 40_000 }), /over the header budget/);
    // A long single string is charged for its characters before they are decoded.
    const long = await doc({ type: GgufValueType.STRING, value: "y".repeat(100_000) });
    assert.throws(() => parseGguf(long, undefined, { floorBytes: 150_000, perFileByte: 0, capBytes: MiB }), /metadata "x" would take about 0\.2 MiB/);
    // Defaults as documented.
    assert.deepEqual(DEFAULT_HEADER_MEMORY_LIMITS, { floorBytes: 32 * MiB, perFileByte: 2, capBytes: 128 * MiB });
  });

  it("keeps stories260K (and every other real header) far inside the budget", () => {
    const bytes = new Uint8Array(readFileSync(TEST_MODEL));
    assert.ok(parseGguf(bytes, undefined, { floorBytes: MiB, perFileByte: 0, capBytes: MiB }));
  });

  it("serve --model with the 64 MiB file fails that model and the gateway does not keep the memory", async () => {
    const { home, cleanup } = tempHome();
    try {
      const hostile = join(home, "u8-array.gguf");
      writeHugeU8ArrayGguf(hostile);
      const tiny = join(home, "tiny.gguf");
      await import("node:fs").then(({ writeFileSync }) => writeFileSync(tiny, Buffer.concat([Buffer.from("GGUF\x03\x00\x00\x00"), Buffer.alloc(100)])));
      const hostileRun = await servePeakRss(hostile, home);
      assert.match(hostileRun.stdout, /bad {2}failed: .*over the header budget of 128 MiB/);
      const tinyRun = await servePeakRss(tiny, home);
      assert.match(tinyRun.stdout, /bad {2}failed: .*general\.architecture is missing/);
      console.log(`gateway peak/now RSS: ${hostileRun.peakMiB.toFixed(0)}/${hostileRun.rssMiB.toFixed(0)} MiB after the 64 MiB file, ${tinyRun.peakMiB.toFixed(0)}/${tinyRun.rssMiB.toFixed(0)} MiB after a 108-byte one`);
      // Before the budget, the 64 MiB file left the gateway at 1.09 GB.
      assert.ok(hostileRun.peakMiB < tinyRun.peakMiB + 64, `gateway peak RSS ${hostileRun.peakMiB} MiB with the hostile file, ${tinyRun.peakMiB} MiB with a tiny bad file`);
      assert.ok(hostileRun.rssMiB < tinyRun.rssMiB + 64, `gateway RSS ${hostileRun.rssMiB} MiB after rejecting the hostile file, ${tinyRun.rssMiB} MiB after a tiny bad file`);
    } finally {
      cleanup();
    }
  });
});

/** Starts `edgelm serve --model bad=<path>`, waits for its model line, reads the gateway's RSS and peak RSS, stops it. */
function servePeakRss(path: string, home: string): Promise<{ stdout: string; peakMiB: number; rssMiB: number }> {
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "--model", `bad=${path}`], {
    cwd: REPO_ROOT,
    env: { ...process.env, EDGELM_HOME: home, EDGELM_LOG_LEVEL: "warn" },
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`edgelm serve printed no model line\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`edgelm serve exited with ${code}\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (!/^ {2}bad {2}.*\n/m.test(stdout)) return; // the whole line: stdout may arrive mid-line
      clearTimeout(timer);
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
      child.removeAllListeners("exit");
      child.on("exit", () => resolve({ stdout, peakMiB: kib("VmHWM"), rssMiB: kib("VmRSS") }));
      child.kill("SIGTERM");
    });
  });
}
