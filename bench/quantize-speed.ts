/**
 * Quantization throughput and memory: quantizes a synthetic F16 model (default:
 * the TinyLlama 1.1B shape) with 1 and 2 worker threads, runs interleaved, each
 * in its own process so its peak RSS is its own. Prints MB/s of input, median
 * seconds and peak RSS against the target (3 × the largest tensor + 150 MB).
 * With LLAMA_QUANTIZE=/path/to/llama-quantize, llama.cpp's tool runs in the
 * same rotation as a reference.
 *
 *   node dist/bench/quantize-speed.js [--shape 1.1b] [--type q8_0] [--runs 3] [--workers 1,2] [--dir DIR] [--json FILE]
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readGguf } from "../src/gguf/gguf-reader.js";
import { quantizeModel } from "../src/gguf/quant/quantize-model.js";
import { quantTarget, type QuantTargetName } from "../src/gguf/quant/tensor-type-plan.js";
import { writeSyntheticModel } from "../src/gguf/synthetic-model.js";
import { parseSyntheticShape } from "../src/gguf/synthetic-shape.js";
import { sha256File } from "../src/trust/file-hash.js";
import { median } from "./bench-stats.js";

const MB = 1e6;

interface RunResult {
  seconds: number;
  peakRssBytes: number;
}

/** Child mode: quantize once and print the run's seconds and peak RSS as JSON. */
async function child(input: string, output: string, type: string, workers: number): Promise<void> {
  const report = await quantizeModel(input, output, { target: type as QuantTargetName, workers });
  // resourceUsage().maxRSS is in kilobytes and covers the worker threads (same process).
  process.stdout.write(JSON.stringify({ seconds: report.seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024 }));
}

function runChild(args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child", ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
    proc.on("error", reject);
    proc.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as RunResult) : reject(new Error(`run ${args.join(" ")} exited with ${code}`))));
  });
}

/** llama-quantize, timed from outside; its peak RSS from /usr/bin/time when present. */
function runLlamaQuantize(binary: string, input: string, output: string, type: string): RunResult {
  const started = performance.now();
  const args = [input, output, type === "q4_k" ? "Q4_K_M" : type.toUpperCase(), "2"];
  const useTime = existsSync("/usr/bin/time");
  const result = useTime ? spawnSync("/usr/bin/time", ["-f", "maxrss=%M", binary, ...args]) : spawnSync(binary, args);
  if (result.status !== 0) throw new Error(`llama-quantize exited with ${result.status}: ${result.stderr?.toString().slice(-500)}`);
  const seconds = (performance.now() - started) / 1000;
  const rss = /maxrss=(\d+)/.exec(result.stderr?.toString() ?? "");
  return { seconds, peakRssBytes: rss ? Number(rss[1]) * 1024 : Number.NaN };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: "boolean" },
      shape: { type: "string", default: "1.1b" },
      type: { type: "string", default: "q8_0" },
      runs: { type: "string", default: "3" },
      workers: { type: "string", default: "1,2" },
      dir: { type: "string" },
      json: { type: "string" },
      input: { type: "string" },
      output: { type: "string" },
      n: { type: "string" },
    },
  });
  if (values.child) return child(values.input!, values.output!, values.type!, Number(values.n));

  const target = quantTarget(values.type!);
  const runs = Number(values.runs);
  const workerCounts = values.workers!.split(",").map(Number);
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), "edgelm-bench-quantize-"));
  const shape = parseSyntheticShape(values.shape!);
  const input = join(dir, `synthetic-${shape.name}-f16.gguf`);
  if (!existsSync(input)) {
    process.stderr.write(`writing a synthetic ${shape.name} F16 model to ${input} ...\n`);
    await writeSyntheticModel(input, { shape, type: "f16" });
  }
  const file = readGguf(input);
  const inputBytes = file.tensors.reduce((s, t) => s + t.byteSize, 0);
  const largest = file.tensors.reduce((a, b) => (b.byteSize > a.byteSize ? b : a));
  const rssTarget = 3 * largest.byteSize + 150 * MB;

  type Contender = { name: string; run: (output: string) => Promise<RunResult> };
  const contenders: Contender[] = workerCounts.map((n) => ({
    name: `edgelm, ${n} worker${n === 1 ? "" : "s"}`,
    run: (output) => runChild(["--input", input, "--output", output, "--type", target.name, "--n", String(n)]),
  }));
  const llamaQuantize = process.env.LLAMA_QUANTIZE;
  if (llamaQuantize) contenders.push({ name: "llama-quantize (reference)", run: async (output) => runLlamaQuantize(llamaQuantize, input, output, target.name) });

  const results = new Map<string, RunResult[]>(contenders.map((c) => [c.name, []]));
  const outputs = new Map<string, string>();
  for (let round = 0; round < runs; round++) {
    for (const c of contenders) {
      const output = join(dir, `out-${c.name.replace(/\W+/g, "-")}.gguf`);
      process.stderr.write(`round ${round + 1}/${runs}: ${c.name} ...\n`);
      results.get(c.name)!.push(await c.run(output));
      outputs.set(c.name, output);
    }
  }
  const hashes = new Map<string, string>();
  for (const [name, path] of outputs) if (name.startsWith("edgelm")) hashes.set(name, await sha256File(path));
  const identical = new Set(hashes.values()).size <= 1;

  const rows = contenders.map((c) => {
    const r = results.get(c.name)!;
    const seconds = median(r.map((x) => x.seconds));
    const rss = Math.max(...r.map((x) => x.peakRssBytes));
    return { name: c.name, seconds, mbPerSecond: inputBytes / MB / seconds, peakRssMB: rss / MB, outputMB: statSync(outputs.get(c.name)!).size / MB };
  });
  const base = rows[0]!;
  console.log(`\nquantize ${shape.name} F16 (${(inputBytes / MB).toFixed(0)} MB of tensors) → ${target.label}, median of ${runs} interleaved runs`);
  console.log(`largest tensor ${largest.name}: ${(largest.byteSize / MB).toFixed(0)} MB → RSS target ${(rssTarget / MB).toFixed(0)} MB\n`);
  const header = ["", "seconds", "MB/s in", "vs first", "peak RSS MB", "RSS ≤ target", "output MB"];
  const table = rows.map((r) => [
    r.name,
    r.seconds.toFixed(2),
    r.mbPerSecond.toFixed(0),
    `${(r.mbPerSecond / base.mbPerSecond).toFixed(2)}×`,
    Number.isFinite(r.peakRssMB) ? r.peakRssMB.toFixed(0) : "n/a",
    Number.isFinite(r.peakRssMB) ? (r.peakRssMB * MB <= rssTarget ? "yes" : "NO") : "n/a",
    r.outputMB.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  for (const row of [header, ...table]) console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  "));
  console.log(`\nedgelm outputs identical across worker counts: ${identical ? "yes" : "NO"}`);
  const [load1, load5] = loadavg();
  console.log(`machine: ${availableParallelism()} CPUs, load average ${load1!.toFixed(1)} (1 min) / ${load5!.toFixed(1)} (5 min) at the end — a load above the CPU count means these figures are contended`);
  if (values.json) {
    writeFileSync(
      values.json,
      JSON.stringify({ shape: shape.name, type: target.label, inputBytes, largestTensorBytes: largest.byteSize, rssTargetBytes: rssTarget, runs, rows, identical, loadavg: loadavg() }, null, 2),
    );
  }
  if (!values.dir) rmSync(dir, { recursive: true, force: true });
}

await main();
