/**
 * Engine speed, side by side in one run: edgelm's engine (node-llama-cpp, the
 * prebuilt binaries and the on-device build when there is one) at each thread
 * count and at its tuned setting, against llama.cpp's own llama-bench and
 * llama-server built from the same source, interleaved over rounds (these
 * machines are noisy: medians of interleaved runs; every raw figure is in the JSON).
 *
 *   node dist/bench/engine-speed.js --model /path/to/360m-q8_0.gguf [--rounds 5]
 *     [--prompt 128] [--gen 64] [--threads 1,2] [--builds prebuilt,local[,cmake:{"GGML_NATIVE":"ON"}]]
 *     [--build-llama-cpp] [--cache DIR] [--out results.json]
 *
 * llama-bench / llama-server: $LLAMA_BENCH / $LLAMA_SERVER, else
 * <cache>/llama.cpp-<commit>/build/bin/ (cache: ~/.cache/edgelm-bench), which
 * --build-llama-cpp fills from the llama.cpp source node-llama-cpp ships
 * (OpenMP off, as node-llama-cpp's prebuilt binaries; about 12 minutes on 2 cores).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { findLocalNodeLlamaCppBuild } from "../src/engine/local-build-profile.js";
import { cloneLlamaCpp, cmakeBuild, llamaCppBundleCommit } from "../src/engine/llama-cpp-source.js";
import { NodeLlamaCppBackend } from "../src/engine/node-llama-cpp-backend.js";
import { applyThreadTuning, benchmarkPrompt, machineIdentity, median, threadCandidates, timeRequest } from "../src/engine/thread-tuning.js";
import type { LoadedModel, ThreadSetting } from "../src/engine/types.js";
import { freePort } from "../src/free-port.js";

const SELF = fileURLToPath(import.meta.url);

interface Sample {
  decode: number | null;
  prompt: number | null;
}

// ---------------------------------------------------------------------------------------------
// Worker: one edgelm engine build with the model loaded, measuring on request (stdin/stdout JSON lines).

async function worker(build: string, modelPath: string, home: string, candidates: number[], promptTokens: number): Promise<void> {
  const send = (message: unknown): void => void process.stdout.write(`${JSON.stringify(message)}\n`);
  let model: LoadedModel;
  try {
    // "prebuilt", "local", or "cmake:{...}" for a node-llama-cpp build made with those CMake options.
    const backend = build.startsWith("cmake:")
      ? new NodeLlamaCppBackend({ cmakeOptions: JSON.parse(build.slice("cmake:".length)) as Record<string, string> })
      : new NodeLlamaCppBackend({ build: build as "prebuilt" | "local" });
    model = await backend.load({ path: modelPath, contextSize: 1024, parallel: 1 });
  } catch (error) {
    send({ error: (error as Error).message });
    return;
  }
  const tuning = await applyThreadTuning(model, home, { modelFile: modelPath, candidates });
  const prompt = await benchmarkPrompt(model, promptTokens);
  send({ ready: true, engineBuild: model.info.engineBuild, tuned: tuning?.threads ?? model.info.threads, tuningCached: tuning?.cached === true, prompt });
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line) as { threads: ThreadSetting; gen: number };
    model.setThreads!(command.threads);
    const run = await timeRequest(model, prompt, command.gen, { deadlineMs: 120_000 });
    send({ decode: run.timings.decodeTokensPerSecond || null, prompt: run.timings.promptTokensPerSecond || null, promptTokens: run.timings.promptTokens });
  }
  await model.dispose();
}

class EngineWorker {
  private readonly child: ChildProcess;
  private readonly lines: AsyncIterator<string>;

  constructor(build: string, model: string, home: string, candidates: number[], promptTokens: number) {
    this.child = spawn(process.execPath, [SELF, "--worker", build, "--model", model, "--home", home, "--threads", candidates.join(","), "--prompt", String(promptTokens)], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
  }

  async next<T>(): Promise<T> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error("the engine worker exited");
    return JSON.parse(value as string) as T;
  }

  async measure(threads: ThreadSetting, gen: number): Promise<Sample> {
    this.child.stdin!.write(`${JSON.stringify({ threads, gen })}\n`);
    return this.next<Sample>();
  }

  close(): void {
    this.child.stdin!.end();
  }
}

// ---------------------------------------------------------------------------------------------
// llama.cpp's own tools.

function llamaBench(binary: string, model: string, threads: number, promptTokens: number, gen: number): Sample {
  const run = (args: string[]): number | null => {
    const r = spawnSync(binary, ["-m", model, "-t", String(threads), "-r", "1", "-o", "json", ...args], { encoding: "utf8", timeout: 600_000 });
    if (r.status !== 0) return null;
    const tests = JSON.parse(r.stdout) as Array<{ avg_ts: number }>;
    return tests[0]?.avg_ts ?? null;
  };
  // Decode after a prompt of the same length as edgelm's (depth), and prompt processing from empty.
  return { decode: run(["-p", "0", "-n", String(gen), "-d", String(promptTokens)]), prompt: run(["-p", String(promptTokens), "-n", "0"]) };
}

class LlamaServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly url: string,
  ) {}

  static async start(binary: string, model: string, threads: number): Promise<LlamaServer> {
    const port = await freePort();
    const child = spawn(binary, ["-m", model, "-t", String(threads), "-tb", String(threads), "-c", "1024", "-np", "1", "--host", "127.0.0.1", "--port", String(port)], {
      stdio: "ignore",
    });
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 600; i++) {
      if (child.exitCode !== null) throw new Error(`llama-server exited with ${child.exitCode}`);
      try {
        if ((await fetch(`${url}/health`)).ok) return new LlamaServer(child, url);
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill("SIGKILL");
    throw new Error("llama-server did not become ready in 120 s");
  }

  async measure(prompt: string, gen: number): Promise<Sample> {
    const response = await fetch(`${this.url}/completion`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt, n_predict: gen, cache_prompt: false, ignore_eos: true, temperature: 0, seed: 1 }),
    });
    const body = (await response.json()) as { timings?: { predicted_per_second?: number; prompt_per_second?: number } };
    return { decode: body.timings?.predicted_per_second ?? null, prompt: body.timings?.prompt_per_second ?? null };
  }

  stop(): void {
    this.child.kill("SIGTERM");
  }
}

function buildLlamaCppTools(cache: string): { bench: string; server: string } {
  const commit = llamaCppBundleCommit();
  const dir = join(cache, `llama.cpp-${commit.slice(0, 12)}`);
  return { bench: join(dir, "build", "bin", "llama-bench"), server: join(dir, "build", "bin", "llama-server") };
}

async function ensureLlamaCppTools(cache: string, build: boolean): Promise<{ bench?: string; server?: string }> {
  const paths = buildLlamaCppTools(cache);
  const bench = process.env.LLAMA_BENCH ?? paths.bench;
  const server = process.env.LLAMA_SERVER ?? paths.server;
  if ((!existsSync(bench) || !existsSync(server)) && build) {
    const dir = resolve(paths.bench, "..", "..", "..");
    process.stderr.write(`building llama-bench and llama-server into ${dir} (about 12 minutes on 2 cores)…\n`);
    await cloneLlamaCpp(join(dir, "src"));
    await cmakeBuild({
      sourceDir: join(dir, "src"),
      buildDir: join(dir, "build"),
      targets: ["llama-bench", "llama-server"],
      // As node-llama-cpp's prebuilt binaries: ggml's own thread pool, no OpenMP.
      cmakeOptions: { GGML_OPENMP: "OFF", LLAMA_CURL: "OFF", LLAMA_BUILD_TESTS: "OFF" },
      jobs: 2,
      onLine: (line) => {
        const step = /^\[\s*\d+%\]/.exec(line)?.[0];
        if (step && process.stderr.isTTY) process.stderr.write(`\r  ${step}`);
      },
    });
    process.stderr.write("\n");
  }
  return { ...(existsSync(bench) ? { bench } : {}), ...(existsSync(server) ? { server } : {}) };
}

// ---------------------------------------------------------------------------------------------

interface Contender {
  name: string;
  threads: ThreadSetting;
  samples: Sample[];
  run: () => Promise<Sample>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      worker: { type: "string" },
      model: { type: "string" },
      home: { type: "string" },
      rounds: { type: "string", default: "5" },
      prompt: { type: "string", default: "128" },
      gen: { type: "string", default: "64" },
      threads: { type: "string" },
      builds: { type: "string", default: "prebuilt,local" },
      "build-llama-cpp": { type: "boolean", default: false },
      cache: { type: "string", default: join(homedir(), ".cache", "edgelm-bench") },
      out: { type: "string" },
    },
  });
  const candidates = values.threads ? values.threads.split(",").map(Number) : threadCandidates(machineIdentity().cores);
  const promptTokens = Number(values.prompt);
  const gen = Number(values.gen);
  const model = resolve(values.model ?? resolve(fileURLToPath(new URL("../../../shared/models/stories260K.gguf", import.meta.url))));
  if (values.worker) return worker(values.worker, model, values.home!, candidates, promptTokens);
  if (!values.model) process.stderr.write(`no --model given: using ${model} (the issue's target shape is the 360M Q8_0 model)\n`);
  const rounds = Number(values.rounds);
  const home = values.home ?? mkdtempSync(join(tmpdir(), "edgelm-bench-home-"));

  const contenders: Contender[] = [];
  const workers: EngineWorker[] = [];
  const servers: LlamaServer[] = [];
  let prompt = "";
  const engines: Array<{ build: string; engineBuild: string; tuned: ThreadSetting; tuningCached: boolean }> = [];
  // Builds are comma-separated; a "cmake:{json}" entry (which may contain commas) ends the list.
  const cmakeAt = values.builds.indexOf("cmake:");
  const buildList = [
    ...(cmakeAt === -1 ? values.builds : values.builds.slice(0, cmakeAt)).split(",").filter(Boolean),
    ...(cmakeAt === -1 ? [] : [values.builds.slice(cmakeAt)]),
  ];
  for (const build of buildList) {
    if (build === "local" && !findLocalNodeLlamaCppBuild()) {
      process.stderr.write("no on-device node-llama-cpp build (edgelm engine build --backend node-llama-cpp): skipping it\n");
      continue;
    }
    const w = new EngineWorker(build, model, home, candidates, promptTokens);
    const ready = await w.next<{ ready?: boolean; error?: string; engineBuild: string; tuned: ThreadSetting; tuningCached: boolean; prompt: string }>();
    if (!ready.ready) {
      process.stderr.write(`edgelm ${build}: ${ready.error}\n`);
      w.close();
      continue;
    }
    workers.push(w);
    prompt ||= ready.prompt;
    engines.push({ build, engineBuild: ready.engineBuild, tuned: ready.tuned, tuningCached: ready.tuningCached });
    for (const n of candidates) contenders.push({ name: `edgelm ${build}`, threads: { prompt: n, decode: n }, samples: [], run: () => w.measure({ prompt: n, decode: n }, gen) });
    // The tuned setting is measured as its own contender only when no fixed count is the same configuration.
    if (!candidates.some((n) => ready.tuned.prompt === n && ready.tuned.decode === n)) {
      contenders.push({ name: `edgelm ${build} tuned`, threads: ready.tuned, samples: [], run: () => w.measure(ready.tuned, gen) });
    }
  }
  const tools = await ensureLlamaCppTools(values.cache, values["build-llama-cpp"]);
  if (tools.bench) {
    for (const n of candidates) {
      contenders.push({ name: "llama-bench", threads: { prompt: n, decode: n }, samples: [], run: async () => llamaBench(tools.bench!, model, n, promptTokens, gen) });
    }
  }
  if (tools.server && prompt) {
    for (const n of candidates) {
      const server = await LlamaServer.start(tools.server, model, n);
      servers.push(server);
      contenders.push({ name: "llama-server", threads: { prompt: n, decode: n }, samples: [], run: () => server.measure(prompt, gen) });
    }
  }
  if (!tools.bench || !tools.server) {
    process.stderr.write("llama-bench/llama-server not built: pass --build-llama-cpp (about 12 minutes) or set LLAMA_BENCH / LLAMA_SERVER\n");
  }

  const started = Date.now();
  for (let round = 0; round < rounds; round++) {
    const rotated = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
    for (const c of round % 2 === 1 ? rotated.reverse() : rotated) {
      c.samples.push(await c.run());
      if (process.stderr.isTTY) process.stderr.write(`\r  round ${round + 1}/${rounds}: ${c.name} ${c.threads.prompt}/${c.threads.decode}        `);
    }
  }
  if (process.stderr.isTTY) process.stderr.write("\n");
  workers.forEach((w) => w.close());
  servers.forEach((s) => s.stop());

  const summary = contenders.map((c) => {
    const decode = c.samples.map((s) => s.decode).filter((v): v is number => v !== null);
    const promptRates = c.samples.map((s) => s.prompt).filter((v): v is number => v !== null);
    return { name: c.name, threads: c.threads, decodeMedian: median(decode), promptMedian: median(promptRates), decode, prompt: promptRates };
  });
  const best = (name: string, key: "decodeMedian" | "promptMedian") =>
    Math.max(0, ...summary.filter((s) => s.name === name).map((s) => s[key] ?? 0)) || null;
  const ratios = engines.map((e) => {
    const same = (t: ThreadSetting) => t.prompt === e.tuned.prompt && t.decode === e.tuned.decode;
    const tuned =
      summary.find((s) => s.name === `edgelm ${e.build} tuned`) ?? summary.find((s) => s.name === `edgelm ${e.build}` && same(s.threads))!;
    const r = (ref: number | null) => (ref && tuned.decodeMedian ? Math.round((tuned.decodeMedian / ref) * 1000) / 1000 : null);
    return { build: e.build, tunedDecode: tuned.decodeMedian, vsLlamaBenchBest: r(best("llama-bench", "decodeMedian")), vsLlamaServerBest: r(best("llama-server", "decodeMedian")) };
  });

  const fmt = (v: number | null): string => (v === null ? "n/a" : v >= 100 ? v.toFixed(0) : v.toFixed(1));
  process.stdout.write(`\nengine speed: ${model}\n${machineIdentity().cpu}, ${machineIdentity().cores} cores; ${promptTokens}-token prompt, ${gen} generated tokens, ${rounds} interleaved rounds, ${Math.round((Date.now() - started) / 1000)} s\n`);
  for (const e of engines) process.stdout.write(`edgelm ${e.build}: ${e.engineBuild}; tuned prompt/decode threads ${e.tuned.prompt}/${e.tuned.decode}${e.tuningCached ? " (cached)" : " (measured now)"}\n`);
  process.stdout.write("\n");
  const rows = [["contender", "threads p/d", "decode tok/s (median)", "decode raw", "prompt tok/s (median)"]];
  for (const s of summary) {
    const tunedHere = engines.some((e) => s.name === `edgelm ${e.build}` && s.threads.prompt === e.tuned.prompt && s.threads.decode === e.tuned.decode);
    rows.push([`${s.name}${tunedHere ? " (= tuned)" : ""}`, `${s.threads.prompt}/${s.threads.decode}`, fmt(s.decodeMedian), s.decode.map(fmt).join(" "), fmt(s.promptMedian)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`  ${r.map((c, i) => c.padEnd(widths[i]!)).join("  ")}\n`);
  process.stdout.write("\n");
  for (const r of ratios) {
    process.stdout.write(
      `  edgelm ${r.build} tuned decode: ${fmt(r.tunedDecode)} tok/s = ${r.vsLlamaBenchBest ?? "n/a"}x llama-bench's best, ${r.vsLlamaServerBest ?? "n/a"}x llama-server's best (target >= 0.9x llama-bench)\n`,
    );
  }
  const out = values.out ?? join(values.cache, "results", `engine-speed-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  mkdirSync(resolve(out, ".."), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ model, machine: machineIdentity(), promptTokens, gen, rounds, engines, tools, summary, ratios }, null, 2)}\n`);
  process.stdout.write(`\nraw results: ${out}\n`);
}

await main();
