/**
 * Fuzzes edgelm's GGUF reader and load-safety checks with mutations of
 * stories260K, then loads a sample of the mutants they accept into llama.cpp
 * (child processes) to confirm none of those crash it.
 *
 *   node dist/bench/fuzz-gguf.js [--cases 10000] [--seed 1] [--native 200] [--model PATH] [--json FILE]
 *
 * Every case must be accepted or rejected with an EdgeError: a crash (any
 * other exception) or a hang (no answer within 10 s) is a bug, and the program
 * exits non-zero. Prints counts per outcome, per error code and per mutation kind.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { classifyGguf } from "./fuzz/classify-gguf.js";
import type { FuzzCaseMessage, FuzzWorkerInput } from "./fuzz/fuzz-gguf-worker.js";
import { ggufMutations, traceFields } from "./fuzz/gguf-mutator.js";
import { checkNativeLoads } from "./fuzz/native-load-check.js";
import { setLogLevel } from "../src/log.js";

const HANG_MS = 10_000;

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}

const cases = Number(flag("cases", "10000"));
const seed = Number(flag("seed", "1"));
const nativeSample = Number(flag("native", "200"));
const repoRoot = resolve(fileURLToPath(new URL("../../", import.meta.url)));
const modelPath = resolve(flag("model", process.env.EDGELM_TEST_MODEL ?? join(repoRoot, "../shared/models/stories260K.gguf")));
const jsonOut = flag("json", "");
setLogLevel("error"); // choosing the native sample parses broken chat templates: a warning each

interface Tally {
  accepted: number;
  rejected: Record<string, number>;
  crashes: Array<{ index: number; name: string; error: string }>;
  hangs: Array<{ index: number; name?: string }>;
  fileDisagreements: number;
  fileChecks: number;
  byKind: Record<string, { accepted: number; rejected: number }>;
  times: number[];
  slowest: { ms: number; name: string };
}

const tally: Tally = { accepted: 0, rejected: {}, crashes: [], hangs: [], fileDisagreements: 0, fileChecks: 0, byKind: {}, times: [], slowest: { ms: 0, name: "" } };

function record(message: FuzzCaseMessage): void {
  const kind = message.name.split(/[@ =]/)[0]!;
  const k = (tally.byKind[kind] ??= { accepted: 0, rejected: 0 });
  tally.times.push(message.ms);
  if (message.ms > tally.slowest.ms) tally.slowest = { ms: message.ms, name: message.name };
  if (message.result.outcome === "accepted") {
    tally.accepted++;
    k.accepted++;
  } else if (message.result.outcome === "rejected") {
    tally.rejected[message.result.code] = (tally.rejected[message.result.code] ?? 0) + 1;
    k.rejected++;
  } else tally.crashes.push({ index: message.index, name: message.name, error: message.result.error });
  if (message.fileAgrees !== undefined) {
    tally.fileChecks++;
    if (!message.fileAgrees) tally.fileDisagreements++;
  }
}

/** Runs cases [start, cases) in a worker; resolves with the index to resume at, or `cases` when done. */
function runWorker(start: number): Promise<number> {
  return new Promise((resolvePromise) => {
    const input: FuzzWorkerInput = { modelPath, seed, start, count: cases, fileEvery: 25 };
    const worker = new Worker(new URL("./fuzz/fuzz-gguf-worker.js", import.meta.url), { workerData: input });
    let next = start;
    let lastName: string | undefined;
    // The first message also pays for start-up and, after a hang, for generating the skipped cases again (`resumed`).
    let timer = setTimeout(onHang, HANG_MS * 3 + start * 10);
    function onHang(): void {
      tally.hangs.push({ index: next, ...(lastName ? { name: `after ${lastName}` } : {}) });
      void worker.terminate();
      resolvePromise(next + 1);
    }
    worker.on("message", (message: FuzzCaseMessage | { resumed: true }) => {
      clearTimeout(timer);
      if ("resumed" in message) {
        timer = setTimeout(onHang, HANG_MS);
        return;
      }
      record(message);
      lastName = message.name;
      next = message.index + 1;
      timer = setTimeout(onHang, HANG_MS);
    });
    worker.on("error", (error) => {
      clearTimeout(timer);
      tally.crashes.push({ index: next, name: "worker", error: String(error) });
      resolvePromise(next + 1);
    });
    worker.on("exit", () => {
      clearTimeout(timer);
      resolvePromise(next >= cases ? cases : next);
    });
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

const started = performance.now();
let next = 0;
while (next < cases) next = await runWorker(next);
const parseSeconds = (performance.now() - started) / 1000;

const rejectedTotal = Object.values(tally.rejected).reduce((a, b) => a + b, 0);
console.log(`GGUF fuzz: ${cases} mutations of ${modelPath} (seed ${seed}) in ${parseSeconds.toFixed(1)} s`);
console.log(`  parsed and accepted    ${tally.accepted}`);
console.log(`  rejected (EdgeError)   ${rejectedTotal}  ${Object.entries(tally.rejected).map(([c, n]) => `${c}: ${n}`).join(", ")}`);
console.log(`  crashes                ${tally.crashes.length}`);
console.log(`  hangs                  ${tally.hangs.length}`);
console.log(`  readGguf(file) agreed  ${tally.fileChecks - tally.fileDisagreements}/${tally.fileChecks}`);
console.log(`  time per case          median ${percentile(tally.times, 0.5).toFixed(2)} ms, p99 ${percentile(tally.times, 0.99).toFixed(2)} ms, max ${tally.slowest.ms.toFixed(1)} ms (${tally.slowest.name.slice(0, 60)})`);
console.log("  by mutation kind (accepted / rejected):");
for (const [kind, k] of Object.entries(tally.byKind).sort()) console.log(`    ${kind.padEnd(10)} ${String(k.accepted).padStart(6)} / ${k.rejected}`);
for (const c of tally.crashes.slice(0, 10)) console.log(`  CRASH #${c.index} ${c.name}: ${c.error}`);
for (const h of tally.hangs.slice(0, 10)) console.log(`  HANG #${h.index} ${h.name ?? ""}`);

// Native half: mutants whose header changed and that edgelm accepts must load (or fail cleanly) in llama.cpp.
let native: Record<string, number> = {};
const nativeCrashes: string[] = [];
if (nativeSample > 0) {
  const base = new Uint8Array(readFileSync(modelPath));
  const { dataOffset } = traceFields(base);
  const dir = mkdtempSync(join(tmpdir(), "edgelm-fuzz-native-"));
  try {
    const files: string[] = [];
    const names = new Map<string, string>();
    for (const m of ggufMutations(base, seed + 1_000_003, cases * 10)) {
      if (files.length >= nativeSample) break;
      const headerSame = m.bytes.length === base.length && Buffer.compare(Buffer.from(m.bytes.subarray(0, dataOffset)), Buffer.from(base.subarray(0, dataOffset))) === 0;
      if (headerSame || (await classifyGguf(m.bytes)).outcome !== "accepted") continue;
      const path = join(dir, `m${files.length}.gguf`);
      writeFileSync(path, m.bytes);
      files.push(path);
      names.set(path, m.name);
    }
    const nativeStarted = performance.now();
    const results = await checkNativeLoads(files, 60_000);
    for (const r of results) {
      const key = r.status.startsWith("crash") ? "crash" : r.status;
      native[key] = (native[key] ?? 0) + 1;
      if (r.status.startsWith("crash") || r.status === "hang") nativeCrashes.push(`${r.status} ${names.get(r.file)}: ${r.stderr ?? ""}`);
    }
    console.log(`\nnative check: ${files.length} accepted mutants (header changed) loaded into llama.cpp in ${((performance.now() - nativeStarted) / 1000).toFixed(1)} s`);
    console.log(`  loaded and generated   ${native.ok ?? 0}`);
    console.log(`  refused cleanly        ${Object.entries(native).filter(([k]) => k !== "ok" && k !== "crash" && k !== "hang").map(([k, n]) => `${k}: ${n}`).join(", ") || 0}`);
    console.log(`  native crashes         ${native.crash ?? 0}`);
    console.log(`  native hangs           ${native.hang ?? 0}`);
    for (const c of nativeCrashes.slice(0, 10)) console.log(`  NATIVE ${c}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (jsonOut) {
  writeFileSync(
    jsonOut,
    `${JSON.stringify({ cases, seed, model: modelPath, seconds: parseSeconds, accepted: tally.accepted, rejected: tally.rejected, crashes: tally.crashes, hangs: tally.hangs, fileChecks: tally.fileChecks, fileDisagreements: tally.fileDisagreements, byKind: tally.byKind, native }, null, 2)}\n`,
  );
}
const bad = tally.crashes.length + tally.hangs.length + tally.fileDisagreements + nativeCrashes.length;
process.exitCode = bad > 0 ? 1 : 0;
