/**
 * The native runner against its references, side by side in one run:
 *
 *   raw llama-server         the same binary, the same settings and request bodies edgelm uses, no edgelm
 *   edgelm → llama-server    `edgelm serve --engine llama-server` (HTTP API, streaming)
 *   edgelm → node-llama-cpp  `edgelm serve --engine node-llama-cpp`
 *
 * Workload: c = 1, 4 and 16 concurrent streaming clients, each sending one
 * completion request (a fixed 138-character prompt: ~30 tokens on stories260K, ~200 on byte-level vocabularies; greedy, up to N
 * generated tokens; every target generates the same tokens). Per target and
 * concurrency: aggregate generated tokens/s (all tokens over the wall time of
 * the batch) and time to first token p50/p95 over every request. Rounds are
 * interleaved (targets rotated per round); ratios are taken within a round, then
 * medianed, because these machines are noisy.
 *
 * Usage: node dist/bench/native-runner.js [--llama-server path] [--rounds 5] [--threads n]
 *          [--model path.gguf[:tokens]]... [--no-synth] [--json out.json]
 * Models: stories260K (128 tokens, 1 thread) and a 360M-shaped Q8_0 synthetic model (48 tokens,
 * 2 threads; written once with edgelm's synthetic-model writer to the temp folder and reused).
 * --threads sets prompt and decode threads of every target for every model.
 * llama-server: --llama-server, else LLAMA_SERVER, else the one `edgelm engine build` made.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { homedir, tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findBuiltLlamaServer } from "../src/engine/engine-build.js";
import { completionBody } from "../src/engine/llama-server/completion-body.js";
import { llamaServerArgs } from "../src/engine/llama-server/llama-server-args.js";
import { inspectLlamaServer } from "../src/engine/llama-server/llama-server-binary.js";
import { EMPTY_CHAT_PARSER } from "../src/engine/llama-server/llama-server-runner.js";
import { writeSyntheticModel } from "../src/gguf/synthetic-model.js";
import { parseSyntheticShape } from "../src/gguf/synthetic-shape.js";
import { fmt, median, quantile, rotate } from "./bench-stats.js";
import { startServeProcess } from "./serve-process.js";
import { postSse } from "./sse-post.js";
import { waitHealthy } from "./wait-healthy.js";

const REPO = resolve(fileURLToPath(new URL("../../", import.meta.url)));
const PROMPT = "Once upon a time, in a small town by the sea, there lived a little girl named Lily who loved to collect shells on the beach every morning.";
const SLOTS = 16;
const CONTEXT = 256;
const CONCURRENCY = [1, 4, 16];

interface Trial {
  ttftMs: number[];
  tokens: number;
  wallMs: number;
}

interface Target {
  name: string;
  /** `c` concurrent streams, one request each, of up to `maxTokens` tokens. */
  batch(c: number, maxTokens: number): Promise<Trial>;
  stop(): Promise<void>;
}

// --- arguments ----------------------------------------------------------------

function parseArgs(argv: string[]) {
  const models: Array<{ path: string; tokens: number; threads: number }> = [];
  let rounds = 5;
  let threads: number | undefined;
  let binary = process.env.LLAMA_SERVER;
  let synth = true;
  let json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--rounds") rounds = Number(value());
    else if (arg === "--threads") threads = Number(value());
    else if (arg === "--llama-server") binary = resolve(value());
    else if (arg === "--no-synth") synth = false;
    else if (arg === "--json") json = value();
    else if (arg === "--model") {
      const [path, tokens] = value().split(/:(?=\d+$)/);
      models.push({ path: resolve(path!), tokens: Number(tokens ?? 64), threads: 2 });
    } else throw new Error(`unknown argument ${arg}`);
  }
  // stories260K decodes fastest on one thread (a token takes well under a millisecond); the 360M shape gains from two.
  if (models.length === 0) models.push({ path: process.env.EDGELM_TEST_MODEL ?? resolve(REPO, "../shared/models/stories260K.gguf"), tokens: 128, threads: 1 });
  binary ??= findBuiltLlamaServer(process.env.EDGELM_HOME ?? join(homedir(), ".edgelm"))?.binary ?? findBuiltLlamaServer(join(homedir(), ".cache", "edgelm-ci"))?.binary;
  if (!binary) throw new Error("no llama-server: pass --llama-server, set LLAMA_SERVER, or run `edgelm engine build`");
  return { models, rounds, threads, binary, synth, json };
}

// --- a streaming client -------------------------------------------------------

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/**
 * POSTs `body` and reads the SSE stream: time to the first event with text, and
 * the generated token count (`count` reads it from an event; the last one wins).
 */
async function stream(
  url: URL,
  body: unknown,
  count: (event: Record<string, unknown>) => number | undefined,
  headers: Record<string, string> = {},
): Promise<{ ttftMs: number; tokens: number }> {
  let first: number | undefined;
  let tokens = 0;
  const { start, end } = await postSse(
    url,
    body,
    (event, now) => {
      const text = (event.content as string | undefined) ?? (event.choices as Array<{ text?: string }> | undefined)?.[0]?.text;
      if (text && first === undefined) first = now;
      tokens = count(event) ?? tokens;
    },
    { agent, headers },
  );
  return { ttftMs: (first ?? end) - start, tokens };
}

async function concurrently(c: number, one: () => Promise<{ ttftMs: number; tokens: number }>): Promise<Trial> {
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: c }, one));
  return { ttftMs: results.map((r) => r.ttftMs), tokens: results.reduce((s, r) => s + r.tokens, 0), wallMs: performance.now() - start };
}

// --- targets ------------------------------------------------------------------

/** The same llama-server edgelm starts (same arguments, minus the socket and key), driven with the same request bodies. */
async function rawLlamaServer(binaryPath: string, model: string, threads: number): Promise<Target> {
  const binary = await inspectLlamaServer(binaryPath);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const dir = mkdtempSync(join(tmpdir(), "edgelm-bench-raw-"));
  const keyFile = join(dir, "key");
  writeFileSync(keyFile, "bench\n", { mode: 0o600 });
  const args = llamaServerArgs(
    { modelPath: model, contextSize: CONTEXT, parallel: SLOTS, threads: { prompt: threads, decode: threads }, batchSize: 512 },
    binary,
    { host: "127.0.0.1", port },
    keyFile,
    "warn",
  );
  const child = spawn(binary.path, args, { stdio: ["ignore", "ignore", "ignore"] });
  const base = `http://127.0.0.1:${port}`;
  await waitHealthy(base, child, "llama-server");
  const url = new URL("/completion", base);
  return {
    name: "raw llama-server",
    batch: (c, maxTokens) =>
      concurrently(c, () =>
        stream(
          url,
          { ...completionBody({ prompt: PROMPT, maxTokens, temperature: 0 }, { prompt: PROMPT, nPredict: maxTokens, extraStops: [] }), ...EMPTY_CHAT_PARSER },
          (e) => (e.stop === true ? (e.tokens_predicted as number) : undefined),
          { authorization: "Bearer bench" },
        ),
      ),
    stop: async () => {
      child.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `edgelm serve` with one engine, as users run it. */
async function edgelm(engine: "llama-server" | "node-llama-cpp", binary: string, model: string, threads: number): Promise<Target> {
  const home = mkdtempSync(join(tmpdir(), "edgelm-bench-home-"));
  const { child, url: base } = await startServeProcess(model, home, [
    ...["--engine", engine, "--llama-server", binary, "--threads", String(threads), "--prompt-threads", String(threads)],
    ...["--parallel", String(SLOTS), "--ctx", String(CONTEXT), "--queue", "256"],
  ]);
  const url = new URL("/v1/completions", base);
  return {
    name: `edgelm → ${engine}`,
    batch: (c, maxTokens) =>
      concurrently(c, () =>
        stream(url, { model: "bench", prompt: PROMPT, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }, (e) =>
          (e.usage as { completion_tokens?: number } | null | undefined)?.completion_tokens,
        ),
      ),
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(home, { recursive: true, force: true });
    },
  };
}

// --- statistics ----------------------------------------------------------------


// --- the run ------------------------------------------------------------------

async function benchModel(model: string, maxTokens: number, rounds: number, threads: number, binary: string) {
  process.stderr.write(`${basename(model)}: starting the three targets\n`);
  const targets = [
    await rawLlamaServer(binary, model, threads),
    await edgelm("llama-server", binary, model, threads),
    await edgelm("node-llama-cpp", binary, model, threads),
  ];
  const rates = new Map<string, Map<number, number[]>>();
  const ttfts = new Map<string, Map<number, number[]>>();
  const counts = new Map<string, Map<number, number[]>>();
  for (const t of targets) {
    rates.set(t.name, new Map(CONCURRENCY.map((c) => [c, []])));
    ttfts.set(t.name, new Map(CONCURRENCY.map((c) => [c, []])));
    counts.set(t.name, new Map(CONCURRENCY.map((c) => [c, []])));
  }
  try {
    process.stderr.write("  warming up\n");
    for (const t of targets) await t.batch(4, 8);
    for (let round = 0; round < rounds; round++) {
      for (const c of CONCURRENCY) {
        process.stderr.write(`  round ${round + 1}/${rounds}, c=${c}\n`);
        for (const t of rotate(targets, round + c)) {
          const trial = await t.batch(c, maxTokens);
          rates.get(t.name)!.get(c)!.push((trial.tokens * 1000) / trial.wallMs);
          ttfts.get(t.name)!.get(c)!.push(...trial.ttftMs);
          counts.get(t.name)!.get(c)!.push(trial.tokens / c);
        }
      }
    }
  } finally {
    for (const t of targets) await t.stop();
  }
  const [raw, native, node] = targets.map((t) => t.name) as [string, string, string];
  const rows = [];
  for (const c of CONCURRENCY) {
    for (const t of targets) {
      rows.push({
        target: t.name,
        concurrency: c,
        tokensPerSecond: median(rates.get(t.name)!.get(c)!),
        ttftP50Ms: quantile(ttfts.get(t.name)!.get(c)!, 0.5),
        ttftP95Ms: quantile(ttfts.get(t.name)!.get(c)!, 0.95),
        tokensPerRequest: median(counts.get(t.name)!.get(c)!),
      });
    }
  }
  const paired = (a: string, b: string, c: number): number => {
    const x = rates.get(a)!.get(c)!;
    const y = rates.get(b)!.get(c)!;
    return median(x.map((v, i) => v / y[i]!));
  };
  const ratios = CONCURRENCY.map((c) => ({ concurrency: c, nativeOverRaw: paired(native, raw, c), nativeOverNode: paired(native, node, c) }));

  process.stdout.write(`\n${basename(model)} — prompt ${PROMPT.length} characters (~30 tokens on stories260K, ~200 on byte-level vocabularies), up to ${maxTokens} generated tokens (greedy), ${threads} threads, ${SLOTS} slots × ${CONTEXT} tokens, ${rounds} interleaved rounds\n`);
  process.stdout.write(`${"target".padEnd(26)}${"c".padStart(4)}${"tokens/s".padStart(11)}${"TTFT p50".padStart(11)}${"TTFT p95".padStart(11)}${"tok/req".padStart(9)}\n`);
  for (const r of rows) {
    process.stdout.write(
      `${r.target.padEnd(26)}${String(r.concurrency).padStart(4)}${fmt(r.tokensPerSecond).padStart(11)}${`${fmt(r.ttftP50Ms)} ms`.padStart(11)}${`${fmt(r.ttftP95Ms)} ms`.padStart(11)}${fmt(r.tokensPerRequest, 0).padStart(9)}\n`,
    );
  }
  process.stdout.write("\nratios (medians of per-round ratios of aggregate tokens/s)\n");
  for (const r of ratios) {
    const okRaw = r.nativeOverRaw >= 0.95 ? "meets" : "BELOW";
    const okNode = r.concurrency === 16 ? (r.nativeOverNode >= 2.5 ? " (target >= 2.5x: meets)" : " (target >= 2.5x: BELOW)") : "";
    process.stdout.write(
      `  c=${String(r.concurrency).padEnd(3)} edgelm→llama-server / raw llama-server ${fmt(r.nativeOverRaw, 3)}x (target >= 0.95x: ${okRaw});  / edgelm→node-llama-cpp ${fmt(r.nativeOverNode, 2)}x${okNode}\n`,
    );
  }
  return { model, maxTokens, threads, slots: SLOTS, context: CONTEXT, rounds, rows, ratios };
}

/** The 360M-shaped Q8_0 synthetic model (what `edgelm synth --shape 360m --type q8_0` writes), kept in the temp folder between runs. */
async function synthetic360m(): Promise<string> {
  const path = join(tmpdir(), "edgelm-bench-synthetic-360m-q8_0.gguf");
  if (existsSync(path) && statSync(path).size > 300_000_000) return path;
  process.stderr.write("writing a 360M-shaped Q8_0 synthetic model (once)\n");
  await writeSyntheticModel(path, { shape: parseSyntheticShape("360m"), type: "q8_0" });
  return path;
}

const args = parseArgs(process.argv.slice(2));
const version = (await inspectLlamaServer(args.binary)).version;
process.stdout.write(`llama-server: ${args.binary} (${version}); machine: ${readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.+)/)?.[1] ?? "?"}\n`);
const models = [...args.models];
if (args.synth) models.push({ path: await synthetic360m(), tokens: 48, threads: 2 });
const results = [];
for (const m of models) results.push(await benchModel(m.path, m.tokens, args.rounds, args.threads ?? m.threads, args.binary));
agent.destroy();
if (args.json) writeFileSync(args.json, `${JSON.stringify({ llamaServer: args.binary, version, results }, null, 2)}\n`);
