/**
 * What watching costs: tokens/s through the gateway with metrics enabled
 * (request metrics on every token, resource sampling, /metrics scraped every
 * second) vs disabled, measured side by side in one run — two `edgelm serve`
 * processes on the same model, driven in interleaved rounds, medians (these
 * machines are noisy). Target: < 1% overhead.
 *
 * Usage: node dist/bench/metrics-overhead.js [--model path.gguf] [--rounds 10] [--seconds 4] [--tokens 256] [--clients 1,4]
 *          [--scrape-every 5] [--json out.json]
 * Each round: every client sends requests of --tokens back to back for --seconds, on one gateway then the other.
 * Default model: stories260K (EDGELM_TEST_MODEL or ../shared/models/stories260K.gguf), where a token
 * takes under 2 ms — the worst case for per-token overhead.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readProcessCpuSeconds } from "../src/ops/cpu-usage.js";
import { MetricsRegistry } from "../src/ops/metrics-registry.js";
import { RequestMetrics } from "../src/ops/request-metrics.js";
import { startServeProcess } from "./serve-process.js";
import { median } from "./bench-stats.js";

const REPO = resolve(fileURLToPath(new URL("../../", import.meta.url)));
const PROMPTS = ["Once upon a time", "One day", "Tom and Lily", "The little dog"];
const SLOTS = 4;

function parseArgs(argv: string[]) {
  let model = process.env.EDGELM_TEST_MODEL ?? resolve(REPO, "../shared/models/stories260K.gguf");
  let rounds = 10;
  let tokens = 256;
  let clients = [1, 4];
  let json: string | undefined;
  let seconds = 4;
  let scrapeEvery = 5;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--model") model = resolve(value());
    else if (arg === "--rounds") rounds = Number(value());
    else if (arg === "--tokens") tokens = Number(value());
    else if (arg === "--clients") clients = value().split(",").map(Number);
    else if (arg === "--json") json = value();
    else if (arg === "--seconds") seconds = Number(value());
    else if (arg === "--scrape-every") scrapeEvery = Number(value());
    else throw new Error(`unknown argument ${arg}`);
  }
  return { model, rounds, tokens, clients, json, seconds, scrapeEvery };
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One streamed completion; resolves with the completion tokens. */
function complete(baseUrl: string, prompt: string, maxTokens: number): Promise<number> {
  const body = JSON.stringify({ model: "bench", prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } });
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(
      new URL("/v1/completions", baseUrl),
      { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`HTTP ${res.statusCode}`));
          return;
        }
        let buffer = "";
        let tokens = 0;
        res.setEncoding("utf8");
        res.on("data", (data: string) => {
          buffer += data;
          const match = /"completion_tokens":(\d+)/.exec(buffer);
          if (match) tokens = Number(match[1]);
          if (buffer.length > 4096) buffer = buffer.slice(-512);
        });
        res.on("end", () => resolvePromise(tokens));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

interface Server {
  name: string;
  child: ChildProcess;
  url: string;
  home: string;
  runnerPid: number;
}

interface Measurement {
  tokensPerSecond: number;
  tokens: number;
  /** CPU seconds used meanwhile by the gateway process and by its runner process. */
  gatewayCpu: number;
  runnerCpu: number;
}

async function startServer(name: string, modelPath: string, metrics: boolean): Promise<Server> {
  const home = mkdtempSync(join(tmpdir(), "edgelm-bench-metrics-"));
  const config = join(home, "config.yaml");
  // Policies off in both: they must not add runners while the benchmark loads the CPU.
  writeFileSync(config, `metrics:\n  enabled: ${metrics}\n  sample_interval_s: 1\npolicies:\n  enabled: false\n`);
  const { child, url, runnerPid } = await startServeProcess(modelPath, home, ["--config", config, "--threads", "1", "--prompt-threads", "1", "--parallel", String(SLOTS), "--ctx", "512"]);
  return { name, child, url, home, runnerPid };
}

async function stopServer(server: Server): Promise<void> {
  const exited = new Promise((r) => server.child.once("exit", r));
  server.child.kill("SIGTERM");
  await exited;
  rmSync(server.home, { recursive: true, force: true });
}

/**
 * Aggregate tokens/s of `clients` clients each sending requests back to back for
 * `seconds`; with `scrapeEvery` (seconds) /metrics is polled meanwhile, as Prometheus would.
 */
async function measure(server: Server, clients: number, maxTokens: number, seconds: number, round: number, scrapeEvery: number | undefined): Promise<Measurement> {
  let scraping = scrapeEvery !== undefined;
  const scraper = (async () => {
    while (scraping) {
      const response = await fetch(`${server.url}/metrics`);
      if (!response.ok) throw new Error(`/metrics: ${response.status}`);
      await response.text();
      await new Promise((r) => setTimeout(r, scrapeEvery! * 1000));
    }
  })();
  const gatewayBefore = readProcessCpuSeconds(server.child.pid!) ?? 0;
  const runnerBefore = readProcessCpuSeconds(server.runnerPid) ?? 0;
  const start = performance.now();
  const until = start + seconds * 1000;
  const client = async (i: number): Promise<number> => {
    let tokens = 0;
    for (let n = 0; performance.now() < until; n++) tokens += await complete(server.url, PROMPTS[(i + round + n) % PROMPTS.length]!, maxTokens);
    return tokens;
  };
  const tokens = await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  const elapsed = (performance.now() - start) / 1000;
  scraping = false;
  await scraper;
  const total = tokens.reduce((a, b) => a + b, 0);
  return {
    tokensPerSecond: total / elapsed,
    tokens: total,
    gatewayCpu: (readProcessCpuSeconds(server.child.pid!) ?? 0) - gatewayBefore,
    runnerCpu: (readProcessCpuSeconds(server.runnerPid) ?? 0) - runnerBefore,
  };
}

/**
 * The metrics' own cost per token, in process (no HTTP, no model): the events
 * of `requests` requests of `tokensPerRequest` tokens replayed through
 * RequestMetrics, timed by CPU time. Steady on a busy machine, unlike tokens/s.
 */
function perTokenCost(requests = 4000, tokensPerRequest = 256): { nsPerToken: number; nsPerRequest: number } {
  const metrics = new RequestMetrics(new MetricsRegistry({ processMetrics: false }), { windowSeconds: 60, models: () => [] });
  const run = (withTokens: boolean): number => {
    const start = process.cpuUsage();
    let at = performance.now();
    for (let r = 0; r < requests; r++) {
      const requestId = `req-${r}`;
      const route = r % 2 ? "openai.chat" : "openai.completions";
      metrics.requestStarted({ requestId, route, model: "bench" });
      metrics.requestAdmitted({ requestId, route, model: "bench", queueWaitMs: 0.1 });
      metrics.firstToken({ requestId, route, model: "bench", ttftMs: 3 });
      if (withTokens) for (let t = 0; t < tokensPerRequest; t++) metrics.tokens({ requestId, model: "bench", tokens: 1, at: (at += 0.5) });
      metrics.requestEnded({ requestId, route, model: "bench", status: 200, promptTokens: 5, completionTokens: tokensPerRequest, durationMs: 100 });
    }
    const used = process.cpuUsage(start);
    return (used.user + used.system) * 1000;
  };
  run(true); // warm up
  const requestOnly = run(false);
  const all = run(true);
  return { nsPerToken: (all - requestOnly) / (requests * tokensPerRequest), nsPerRequest: requestOnly / requests };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  process.stderr.write(`starting two gateways on ${basename(args.model)} (metrics on / off)\n`);
  const on = await startServer("metrics on", args.model, true);
  const off = await startServer("metrics off", args.model, false);
  const results: Record<string, Record<number, Measurement[]>> = { [on.name]: {}, [off.name]: {} };
  try {
    for (const server of [on, off]) for (let i = 0; i < 4; i++) await complete(server.url, PROMPTS[i]!, 32);
    // The scrape endpoint exists only with metrics on.
    if ((await fetch(`${off.url}/metrics`)).status !== 404) throw new Error("metrics off still serves /metrics");
    for (const c of args.clients) {
      results[on.name]![c] = [];
      results[off.name]![c] = [];
      for (let round = 0; round < args.rounds; round++) {
        process.stderr.write(`  ${c} client${c === 1 ? "" : "s"}, round ${round + 1}/${args.rounds}\n`);
        // Alternate which goes first so drift in machine load hits both alike.
        const order = round % 2 === 0 ? [on, off] : [off, on];
        for (const server of order) results[server.name]![c]!.push(await measure(server, c, args.tokens, args.seconds, round, server === on ? args.scrapeEvery : undefined));
      }
    }
  } finally {
    await Promise.all([stopServer(on), stopServer(off)]);
  }
  const rows = args.clients.map((c) => {
    const a = results[on.name]![c]!;
    const b = results[off.name]![c]!;
    const rateOn = median(a.map((m) => m.tokensPerSecond));
    const rateOff = median(b.map((m) => m.tokensPerSecond));
    // Per-round paired ratios are steadier than a ratio of medians on a shared machine.
    const paired = median(a.map((m, i) => m.tokensPerSecond / b[i]!.tokensPerSecond));
    // CPU time per token hardly depends on what else the machine runs: the steadier measure of cost.
    const perToken = (ms: Measurement[], key: "gatewayCpu" | "runnerCpu"): number =>
      (ms.reduce((sum, m) => sum + m[key], 0) / ms.reduce((sum, m) => sum + m.tokens, 0)) * 1e6;
    const gwOn = perToken(a, "gatewayCpu");
    const gwOff = perToken(b, "gatewayCpu");
    const runOn = perToken(a, "runnerCpu");
    const runOff = perToken(b, "runnerCpu");
    return {
      clients: c,
      on: rateOn,
      off: rateOff,
      paired,
      gatewayCpuUsPerToken: { on: gwOn, off: gwOff },
      runnerCpuUsPerToken: { on: runOn, off: runOff },
      cpuOverheadPercent: ((gwOn + runOn) / (gwOff + runOff) - 1) * 100,
    };
  });
  process.stdout.write(
    `\n${basename(args.model)} — through the gateway, requests of ${args.tokens} tokens back to back for ${args.seconds} s per measurement, ${args.rounds} interleaved rounds\n` +
      `| clients | tokens/s on | tokens/s off | on / off (paired median) | gateway CPU µs/token on | off | runner CPU µs/token on | off | CPU per token, on vs off |\n` +
      `|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n`,
  );
  for (const r of rows) {
    process.stdout.write(
      `| ${r.clients} | ${r.on.toFixed(1)} | ${r.off.toFixed(1)} | ${r.paired.toFixed(3)} | ${r.gatewayCpuUsPerToken.on.toFixed(1)} | ${r.gatewayCpuUsPerToken.off.toFixed(1)} | ` +
        `${r.runnerCpuUsPerToken.on.toFixed(1)} | ${r.runnerCpuUsPerToken.off.toFixed(1)} | ${r.cpuOverheadPercent >= 0 ? "+" : ""}${r.cpuOverheadPercent.toFixed(2)}% |\n`,
    );
  }
  process.stdout.write(
    `\nmetrics on: request metrics on every token, resources sampled every second, /metrics scraped every ${args.scrapeEvery} s (Prometheus' usual interval is 15-60 s); policies off in both.\n`,
  );
  const cost = perTokenCost();
  const fastest = Math.max(...rows.map((r) => r.off));
  const runnerUs = Math.min(...rows.map((r) => r.gatewayCpuUsPerToken.off + r.runnerCpuUsPerToken.off));
  process.stdout.write(
    `\nmetrics work in process (CPU time, no HTTP): ${cost.nsPerToken.toFixed(0)} ns per token + ${(cost.nsPerRequest / 1000).toFixed(1)} µs per request` +
      ` = ${((cost.nsPerToken * fastest) / 1e7).toFixed(3)}% of one core at ${fastest.toFixed(0)} tokens/s (the fastest rate measured above);` +
      ` ${((cost.nsPerToken / 1000 / runnerUs) * 100).toFixed(2)}% of the ${runnerUs.toFixed(0)} µs of CPU a token costs gateway and runner together\n`,
  );
  if (args.json) writeFileSync(args.json, `${JSON.stringify({ model: args.model, tokens: args.tokens, rounds: args.rounds, rows, cost, raw: results }, null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
