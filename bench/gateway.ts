/**
 * Gateway overhead, measured side by side in one run (interleaved rounds,
 * medians; these machines are noisy):
 *
 *   (a) tokens/s through the HTTP API (edgelm serve, streaming) vs the in-process engine, 1 client
 *   (b) time to first token: gateway minus in-process engine
 *   (c) aggregate tokens/s with 1, 4 and 16 concurrent clients
 *   (d) resident memory of the gateway process beside its runner's
 *   plus the IPC layer alone (a runner process driven directly, no HTTP) and, when
 *   llama-server is on PATH or LLAMA_SERVER=path is set, the same workload against it.
 *
 * Usage: node dist/bench/gateway.js [--model path.gguf]... [--rounds 7] [--tokens 256] [--threads 1]
 *          [--synth-360m] [--json out.json]
 * Default model: stories260K (EDGELM_TEST_MODEL or ../shared/models/stories260K.gguf).
 * --synth-360m also benches a 360M-shaped Q8_0 model made with `edgelm synth` (48 tokens, 3 rounds).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { basename, delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NodeLlamaCppBackend } from "../src/engine/node-llama-cpp-backend.js";
import { ChildProcessRunner } from "../src/engine/runners/child-process-runner.js";
import type { LoadedModel } from "../src/engine/types.js";
import { postSse } from "./sse-post.js";
import { fmt, median, rotate } from "./bench-stats.js";
import { startServeProcess, type ServeProcess } from "./serve-process.js";

const REPO = resolve(fileURLToPath(new URL("../../", import.meta.url)));
const CLI = join(REPO, "dist/src/cli/main.js");
const PROMPTS = ["Once upon a time", "One day", "Tom and Lily", "The little dog"];
const CONTEXT = 512;
const SLOTS = 16;

interface Trial {
  ttftMs: number;
  tokens: number;
  /** First to last token, ms. */
  decodeMs: number;
  totalMs: number;
}

interface Target {
  name: string;
  trial(prompt: string, maxTokens: number): Promise<Trial>;
  /** Cumulative CPU milliseconds of the processes doing this target's work, by role. */
  cpu(): Record<string, number>;
}

// --- arguments ---------------------------------------------------------------

function parseArgs(argv: string[]) {
  const models: string[] = [];
  let rounds = 7;
  let tokens = 256;
  let json: string | undefined;
  let threads = 1;
  let synth = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--model") models.push(resolve(value()));
    else if (arg === "--rounds") rounds = Number(value());
    else if (arg === "--tokens") tokens = Number(value());
    else if (arg === "--json") json = value();
    else if (arg === "--threads") threads = Number(value());
    else if (arg === "--synth-360m") synth = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (models.length === 0) models.push(process.env.EDGELM_TEST_MODEL ?? resolve(REPO, "../shared/models/stories260K.gguf"));
  return { models, rounds, tokens, json, threads, synth };
}

// --- targets ------------------------------------------------------------------

/** Drives a LoadedModel (in process, or a runner process over IPC) and times it the way a client would. */
function engineTarget(name: string, model: LoadedModel, cpu: () => Record<string, number>): Target {
  return {
    name,
    cpu,
    async trial(prompt, maxTokens) {
      const start = performance.now();
      const stream = await model.generate({ prompt, maxTokens, temperature: 0 });
      let first: number | undefined;
      let last = start;
      for await (const chunk of stream) {
        if (chunk.text.length === 0) continue;
        last = performance.now();
        first ??= last;
      }
      const result = await stream.result;
      const end = performance.now();
      return { ttftMs: (first ?? end) - start, tokens: result.timings.completionTokens, decodeMs: last - (first ?? last), totalMs: end - start };
    },
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** Streams /v1/completions over HTTP with a minimal client (node:http, hand-parsed SSE). */
function httpTarget(name: string, baseUrl: string, model: string, cpu: () => Record<string, number>): Target {
  const url = new URL("/v1/completions", baseUrl);
  return {
    name,
    cpu,
    async trial(prompt, maxTokens) {
      // A keep-alive socket the server has just closed fails at once; one retry on a fresh socket is enough.
      try {
        return await streamOnce(prompt, maxTokens);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ECONNRESET") throw error;
        return streamOnce(prompt, maxTokens);
      }
    },
  };

  async function streamOnce(prompt: string, maxTokens: number): Promise<Trial> {
    const body = { model, prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } };
    let first: number | undefined;
    let last: number | undefined;
    let tokens = 0;
    let events = 0;
    const { start, end } = await postSse(
      url,
      body,
      (event, now) => {
        const parsed = event as { choices?: Array<{ text?: string }>; usage?: { completion_tokens: number } | null };
        if (parsed.usage) tokens = parsed.usage.completion_tokens;
        if (parsed.choices?.[0]?.text) {
          events++;
          last = now;
          first ??= now;
        }
      },
      { agent },
    );
    return { ttftMs: (first ?? end) - start, tokens: tokens || events, decodeMs: (last ?? start) - (first ?? last ?? start), totalMs: end - start };
  }
}

// --- processes ----------------------------------------------------------------

/** `edgelm serve` in its own process, as users run it. */
function startGateway(modelPath: string, home: string, threads: number): Promise<ServeProcess> {
  return startServeProcess(modelPath, home, ["--threads", String(threads), "--prompt-threads", String(threads), "--parallel", String(SLOTS), "--ctx", String(CONTEXT), "--queue", "256"]);
}

/** The reference llama-server: LLAMA_SERVER, else one on PATH. */
function llamaServerBinary(): string | undefined {
  if (process.env.LLAMA_SERVER) return process.env.LLAMA_SERVER;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, "llama-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** llama.cpp's server on the same file with the same slots and threads. */
async function startLlamaServer(binary: string, modelPath: string, threads: number): Promise<{ child: ChildProcess; url: string }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(binary, ["-m", modelPath, "--host", "127.0.0.1", "--port", String(port), "-t", String(threads), "-np", String(SLOTS), "-c", String(CONTEXT * SLOTS), "-cb"], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/health`)).ok) return { child, url };
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error("llama-server did not start");
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** CPU time (user + system, all threads) of a process, in ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function selfCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

// --- statistics ---------------------------------------------------------------

/** Median of the per-round ratios a[i] / b[i] (rounds ran side by side, under the same load). */
function pairedRatio(a: number[], b: number[]): number {
  return median(a.map((v, i) => v / b[i]!));
}

/** Median of the per-round differences a[i] - b[i]. */
function pairedDifference(a: number[], b: number[]): number {
  return median(a.map((v, i) => v - b[i]!));
}


function table(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  process.stdout.write(`\n${title}\n${line(header)}\n|${widths.map((w, i) => (i === 0 ? ":" : "") + "-".repeat(w + 1) + (i === 0 ? "" : ":")).join("|")}|\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}

// --- the benchmark ----------------------------------------------------------------

async function benchModel(modelPath: string, rounds: number, maxTokens: number, threads: number): Promise<Record<string, unknown>> {
  const home = mkdtempSync(join(tmpdir(), "edgelm-bench-"));
  const loadOptions = { path: modelPath, parallel: SLOTS, contextSize: CONTEXT, threads: { decode: threads, prompt: threads } };
  const inProcess = await new NodeLlamaCppBackend().load(loadOptions);
  const runner = new ChildProcessRunner({ ...loadOptions, name: "bench" });
  await runner.start();
  const gateway = await startGateway(modelPath, home, threads);
  const targets: Target[] = [
    engineTarget("in-process engine", inProcess, () => ({ engine: selfCpuMs() })),
    engineTarget("runner over IPC", runner, () => ({ runner: cpuMs(runner.pid!), client: selfCpuMs() })),
    httpTarget("gateway (HTTP)", gateway.url, "bench", () => ({ runner: cpuMs(gateway.runnerPid), gateway: cpuMs(gateway.child.pid!), client: selfCpuMs() })),
  ];
  let llama: { child: ChildProcess; url: string } | undefined;
  const llamaServer = llamaServerBinary();
  if (llamaServer) {
    llama = await startLlamaServer(llamaServer, modelPath, threads);
    const server = llama.child;
    targets.push(httpTarget("llama-server", llama.url, "bench", () => ({ server: cpuMs(server.pid!), client: selfCpuMs() })));
  }
  try {
    process.stderr.write(`${basename(modelPath)}: warming up\n`);
    for (const target of targets) for (let i = 0; i < 3; i++) await target.trial(PROMPTS[i % PROMPTS.length]!, 32);

    // (a) and (b): one client, interleaved rounds.
    // One value per round per target, so rounds pair up: ratios are taken within a round (same load), then medianed.
    const single = new Map<string, { rate: number[]; decodeRate: number[]; ttft: number[]; ttftRound: number[]; cpu: Record<string, number>; tokens: number }>();
    for (const t of targets) single.set(t.name, { rate: [], decodeRate: [], ttft: [], ttftRound: [], cpu: {}, tokens: 0 });
    for (let round = 0; round < rounds; round++) {
      process.stderr.write(`  concurrency 1, round ${round + 1}/${rounds}\n`);
      for (const target of rotate(targets, round)) {
        const s = single.get(target.name)!;
        const cpuBefore = target.cpu();
        const trial = await target.trial(PROMPTS[round % PROMPTS.length]!, maxTokens);
        const cpuAfter = target.cpu();
        for (const [role, ms] of Object.entries(cpuAfter)) s.cpu[role] = (s.cpu[role] ?? 0) + ms - cpuBefore[role]!;
        s.tokens += trial.tokens;
        s.rate.push((trial.tokens * 1000) / trial.totalMs);
        s.decodeRate.push(((trial.tokens - 1) * 1000) / trial.decodeMs);
        const ttfts: number[] = [];
        for (let i = 0; i < 5; i++) ttfts.push((await target.trial(PROMPTS[(round + i) % PROMPTS.length]!, 2)).ttftMs);
        s.ttft.push(...ttfts);
        s.ttftRound.push(median(ttfts));
      }
    }

    // (c): aggregate tokens/s with concurrent clients (each client one request of maxTokens).
    const concurrency = [1, 4, 16];
    const aggregate = new Map<string, Map<number, number[]>>();
    for (const t of targets) aggregate.set(t.name, new Map(concurrency.map((c) => [c, []])));
    const healthBefore = await runner.health();
    for (let round = 0; round < Math.max(3, Math.ceil(rounds / 2)); round++) {
      for (const c of concurrency) {
        process.stderr.write(`  concurrency ${c}, round ${round + 1}\n`);
        for (const target of rotate(targets, round + c)) {
          const start = performance.now();
          const trials = await Promise.all(Array.from({ length: c }, (_, i) => target.trial(PROMPTS[(i + round) % PROMPTS.length]!, maxTokens)));
          const seconds = (performance.now() - start) / 1000;
          aggregate.get(target.name)!.get(c)!.push(trials.reduce((sum, t) => sum + t.tokens, 0) / seconds);
        }
      }
    }
    const healthAfter = await runner.health();
    const pings: number[] = [];
    for (let i = 0; i < 200; i++) pings.push((await runner.health()).latencyMs);

    const gatewayRss = rssMiB(gateway.child.pid!);
    const runnerRss = rssMiB(gateway.runnerPid);

    // --- report
    const base = single.get("in-process engine")!;
    const rows = targets.map((t) => {
      const s = single.get(t.name)!;
      return [
        t.name,
        fmt(median(s.rate)),
        fmt(pairedRatio(s.rate, base.rate), 3),
        fmt(median(s.decodeRate)),
        fmt(pairedRatio(s.decodeRate, base.decodeRate), 3),
        fmt(median(s.ttft), 2),
        fmt(pairedDifference(s.ttftRound, base.ttftRound), 2),
      ];
    });
    table(
      `${basename(modelPath)} — one client, ${maxTokens} tokens per request, ${rounds} interleaved rounds (TTFT: 5 requests of 2 tokens per round); values are medians, ratios and differences are medians of per-round pairs`,
      ["target", "tokens/s", "× in-process", "decode tokens/s", "× in-process", "TTFT ms", "TTFT − in-process ms"],
      rows,
    );
    const roles = ["engine", "runner", "gateway", "server", "client"];
    table(
      "CPU time per generated token, one client (µs; all threads of each process; clock ticks are 10 ms, so short runs are coarse)",
      ["target", ...roles],
      targets.map((t) => {
        const s = single.get(t.name)!;
        return [t.name, ...roles.map((r) => (s.cpu[r] === undefined ? "" : fmt((s.cpu[r] * 1000) / s.tokens, 0)))];
      }),
    );
    const aggRows = targets.map((t) => {
      const byC = aggregate.get(t.name)!;
      return [t.name, ...concurrency.map((c) => fmt(median(byC.get(c)!))), fmt(pairedRatio(byC.get(4)!, byC.get(1)!), 2), fmt(pairedRatio(byC.get(16)!, byC.get(1)!), 2)];
    });
    table(
      `aggregate tokens/s, ${SLOTS} slots in one context, ${threads} thread${threads === 1 ? "" : "s"} (medians)`,
      ["target", "c=1", "c=4", "c=16", "c=4 / c=1", "c=16 / c=1"],
      aggRows,
    );
    const gatewayAgg = aggregate.get("gateway (HTTP)")!;
    const inAgg = aggregate.get("in-process engine")!;
    table("gateway over in-process engine, aggregate tokens/s", ["concurrency", "ratio"], concurrency.map((c) => [`c=${c}`, fmt(pairedRatio(gatewayAgg.get(c)!, inAgg.get(c)!), 3)]));
    const messages = healthAfter.messagesSent - healthBefore.messagesSent;
    const events = healthAfter.eventsSent - healthBefore.eventsSent;
    table("IPC (runner process ⇄ gateway)", ["measure", "value"], [
      ["round trip (health call), median ms", fmt(median(pings), 3)],
      ["round trip p95 ms", fmt([...pings].sort((a, b) => a - b)[Math.floor(pings.length * 0.95)]!, 3)],
      ["events per message during the concurrency runs", fmt(events / Math.max(1, messages), 2)],
      ["runner over IPC × in-process, 1 client (tokens/s)", fmt(pairedRatio(single.get("runner over IPC")!.rate, base.rate), 3)],
      ["runner over IPC − in-process TTFT ms", fmt(pairedDifference(single.get("runner over IPC")!.ttftRound, base.ttftRound), 2)],
    ]);
    table("resident memory (MiB)", ["process", "RSS"], [
      ["gateway (edgelm serve, no model)", fmt(gatewayRss)],
      ["its runner (model + context)", fmt(runnerRss)],
      ["gateway / runner", fmt(gatewayRss / runnerRss, 2)],
    ]);
    if (!llama) process.stdout.write("\nllama-server: skipped (none on PATH; set LLAMA_SERVER=/path/to/llama-server to compare)\n");
    else {
      const ls = single.get("llama-server")!;
      const lsAgg = aggregate.get("llama-server")!;
      table("gateway over llama-server", ["measure", "ratio"], [
        ["tokens/s, 1 client", fmt(pairedRatio(single.get("gateway (HTTP)")!.rate, ls.rate), 3)],
        ...concurrency.map((c) => [`aggregate tokens/s, c=${c}`, fmt(pairedRatio(gatewayAgg.get(c)!, lsAgg.get(c)!), 3)]),
      ]);
    }
    return {
      model: modelPath,
      rounds,
      maxTokens,
      single: Object.fromEntries(
        [...single].map(([k, v]) => [
          k,
          {
            tokensPerSecond: median(v.rate),
            decodeTokensPerSecond: median(v.decodeRate),
            ttftMs: median(v.ttft),
            cpuMicrosecondsPerToken: Object.fromEntries(Object.entries(v.cpu).map(([role, ms]) => [role, (ms * 1000) / v.tokens])),
          },
        ]),
      ),
      aggregate: Object.fromEntries([...aggregate].map(([k, v]) => [k, Object.fromEntries([...v].map(([c, r]) => [c, median(r)]))])),
      gatewayOverInProcess: {
        tokensPerSecond: pairedRatio(single.get("gateway (HTTP)")!.rate, base.rate),
        ttftOverheadMs: pairedDifference(single.get("gateway (HTTP)")!.ttftRound, base.ttftRound),
        aggregate: Object.fromEntries(concurrency.map((c) => [c, pairedRatio(gatewayAgg.get(c)!, inAgg.get(c)!)])),
        fourClientsOverOne: pairedRatio(gatewayAgg.get(4)!, gatewayAgg.get(1)!),
      },
      ipc: {
        roundTripMs: median(pings),
        eventsPerMessage: events / Math.max(1, messages),
        runnerOverInProcess: pairedRatio(single.get("runner over IPC")!.rate, base.rate),
        ttftOverheadMs: pairedDifference(single.get("runner over IPC")!.ttftRound, base.ttftRound),
      },
      rssMiB: { gateway: gatewayRss, runner: runnerRss },
    };
  } finally {
    gateway.child.kill("SIGTERM");
    llama?.child.kill("SIGTERM");
    await runner.dispose();
    await inProcess.dispose();
    await new Promise((r) => gateway.child.once("exit", r));
    rmSync(home, { recursive: true, force: true });
  }
}

const args = parseArgs(process.argv.slice(2));
const results = [];
for (const model of args.models) results.push(await benchModel(model, args.rounds, args.tokens, args.threads));
if (args.synth) {
  const dir = mkdtempSync(join(tmpdir(), "edgelm-bench-synth-"));
  const file = join(dir, "synthetic-360m-q8_0.gguf");
  process.stderr.write("writing a 360M-shaped Q8_0 model with `edgelm synth`\n");
  const synth = spawn(process.execPath, [CLI, "synth", "--shape", "360m", "--type", "q8_0", "-o", file], { stdio: ["ignore", "ignore", "inherit"] });
  const code = await new Promise<number | null>((r) => synth.on("exit", r));
  if (code !== 0) process.stdout.write("\n360M Q8_0 synthetic model: skipped — `edgelm synth` failed or is not in this build.\n");
  else results.push(await benchModel(file, 3, Math.min(args.tokens, 48), args.threads));
  rmSync(dir, { recursive: true, force: true });
} else {
  process.stdout.write("\n360M Q8_0 synthetic model: not run (add --synth-360m).\n");
}
agent.destroy();
if (args.json) writeFileSync(args.json, `${JSON.stringify(results, null, 2)}\n`);
