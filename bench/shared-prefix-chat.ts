/**
 * Shared-prefix chat, the workload edge assistants run: every conversation
 * starts with the same long system prompt (~500 tokens: store rules, a
 * catalog excerpt) and has a few turns. Targets, side by side in one run:
 *
 *   raw llama-server          the same binary with its own defaults (slots, unified KV, host prompt cache),
 *                             threads set as for edgelm; its /v1/chat/completions
 *   edgelm → llama-server     `edgelm serve`, the system prompt given as a warm prefix (server.models[].warm_prefixes)
 *   edgelm → llama-server, no prefix cache   the same with engine.prefix_cache.enabled: false (what it did before)
 *   edgelm → llama-server, batch N   (with --target edgelm-bN) the warm-prefix setup with engine.batch_size N
 *   edgelm → node-llama-cpp   (with --target node)
 *
 * Workload per trial: C conversations at once, each 3 turns in order; turn k
 * sends [system, user 1, assistant 1, ..., user k] as a streaming chat
 * completion (greedy, max_tokens = the answer length) and its answer becomes
 * history. Concurrency 4 and 16, answers of 16 and 64 tokens. Per target and
 * setting: aggregate generated tokens/s (all tokens over the trial's wall time),
 * time to first token p50/p95 over every turn (and p95 of first turns alone),
 * and the longest gap between two text chunks of one stream (a stall while
 * other prompts are evaluated). Every target gets one warm-up conversation
 * first ("after the model's warm-up"). Rounds are interleaved (targets rotated
 * per round) and the figures are medians over rounds; ratios are per round,
 * then medianed, because these machines are noisy.
 *
 * Usage: node dist/bench/shared-prefix-chat.js [--model path.gguf] [--llama-server path] [--rounds 3]
 *          [--clients 4,16] [--answers 16,64] [--turns 3] [--system-tokens 500] [--threads 2] [--parallel 4]
 *          [--target raw|edgelm|edgelm-b<N>|edgelm-cold|node|raw:<extra llama-server flags>]... [--quick] [--json out.json]
 * --quick: one round. Default model: the 360M-shaped Q8_0 synthetic model at /tmp/m360-q8_0.gguf
 * (written there once with edgelm's synthetic-model writer).
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { homedir, tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { findBuiltLlamaServer } from "../src/engine/engine-build.js";
import { inspectLlamaServer } from "../src/engine/llama-server/llama-server-binary.js";
import { writeSyntheticModel } from "../src/gguf/synthetic-model.js";
import { parseSyntheticShape } from "../src/gguf/synthetic-shape.js";
import { fmt, median, quantile, rotate } from "./bench-stats.js";
import { startServeProcess } from "./serve-process.js";
import { postSse } from "./sse-post.js";
import { waitHealthy } from "./wait-healthy.js";

interface Message {
  role: "system" | "user" | "assistant";
  content: string;
}

/** One streamed turn as the client saw it. */
interface Turn {
  text: string;
  tokens: number;
  ttftMs: number;
  /** Longest time between two text chunks of this stream, in ms (0 with fewer than two). */
  maxGapMs: number;
  turn: number;
}

interface Trial {
  turns: Turn[];
  wallMs: number;
}

interface Target {
  name: string;
  /** One streaming chat completion. */
  chat(messages: Message[], maxTokens: number): Promise<Omit<Turn, "turn">>;
  stop(): Promise<void>;
}

// --- arguments ----------------------------------------------------------------

function parseArgs(argv: string[]) {
  const args = {
    model: "/tmp/m360-q8_0.gguf",
    binary: process.env.LLAMA_SERVER as string | undefined,
    rounds: 3,
    clients: [4, 16],
    answers: [16, 64],
    turns: 3,
    systemTokens: 500,
    threads: 2,
    parallel: 4,
    targets: [] as string[],
    json: undefined as string | undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const list = (): number[] => {
      const values = value().split(",").map(Number);
      if (values.some((v) => !Number.isInteger(v) || v <= 0)) throw new Error(`${arg} takes positive integers separated by commas`);
      return values;
    };
    const positive = (): number => {
      const v = Number(value());
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${arg} must be a positive integer`);
      return v;
    };
    if (arg === "--model") args.model = resolve(value());
    else if (arg === "--llama-server") args.binary = resolve(value());
    else if (arg === "--rounds") args.rounds = positive();
    else if (arg === "--quick") args.rounds = 1;
    else if (arg === "--clients") args.clients = list();
    else if (arg === "--answers") args.answers = list();
    else if (arg === "--turns") args.turns = positive();
    else if (arg === "--system-tokens") args.systemTokens = positive();
    else if (arg === "--threads") args.threads = positive();
    else if (arg === "--parallel") args.parallel = positive();
    else if (arg === "--target") args.targets.push(value());
    else if (arg === "--json") args.json = value();
    else throw new Error(`unknown argument ${arg}`);
  }
  if (args.targets.length === 0) args.targets = ["raw", "edgelm", "edgelm-cold"];
  for (const t of args.targets) {
    if (!/^(raw(:.*)?|edgelm(-b[1-9]\d*)?|edgelm-cold|node)$/.test(t)) throw new Error(`--target ${t}: raw, raw:<flags>, edgelm, edgelm-b<batch>, edgelm-cold or node`);
  }
  args.binary ??= findBuiltLlamaServer(process.env.EDGELM_HOME ?? join(homedir(), ".edgelm"))?.binary ?? findBuiltLlamaServer(join(homedir(), ".cache", "edgelm-ci"))?.binary;
  if (!args.binary) throw new Error("no llama-server: pass --llama-server, set LLAMA_SERVER, or run `edgelm engine build`");
  return args as typeof args & { binary: string };
}

// --- the workload ---------------------------------------------------------------

const RULES = [
  "Greet every customer politely and answer in at most two short sentences.",
  "The store opens at eight in the morning and closes at nine in the evening, every day except public holidays.",
  "Returns are accepted within thirty days with a receipt; opened electronics can be returned within fourteen days.",
  "Never promise a delivery date; say that the courier confirms it by message after the order ships.",
  "Loyalty members get five percent off fresh produce and a free coffee on their birthday.",
  "Aisle one holds bread and pastries, aisle two dairy and eggs, aisle three fruit and vegetables.",
  "Aisle four holds pasta, rice and canned goods; aisle five cleaning supplies; aisle six pet food.",
  "The pharmacy counter is next to the entrance and is staffed from nine to six on weekdays.",
  "Gift cards come in ten, twenty-five and fifty; they cannot be exchanged for cash.",
  "If a customer reports a spill or a broken item, tell them a staff member is on the way and thank them.",
  "Price questions: read the price from the catalog below; if a product is missing, say you will ask a colleague.",
  "Catalog: whole milk one liter 1.19; oat drink one liter 1.89; free-range eggs ten pack 3.49; butter 250 g 2.29.",
  "Catalog: sourdough loaf 3.10; baguette 1.20; croissant 0.95; rye bread 2.60; gluten-free bread 3.90.",
  "Catalog: bananas per kilo 1.49; apples per kilo 2.19; tomatoes per kilo 2.99; potatoes 2.5 kg 2.79.",
  "Catalog: spaghetti 500 g 1.09; basmati rice 1 kg 2.49; chickpeas can 0.89; tuna can 1.79; olive oil 750 ml 6.99.",
  "Catalog: dish soap 0.99; laundry liquid 2 l 5.49; paper towels four rolls 3.29; cat food 400 g 1.15.",
  "Parking is free for ninety minutes with a purchase; the ticket is validated at any checkout.",
  "Card payments, phone payments and cash are accepted; checks are not.",
  "Children under twelve must be accompanied by an adult at the self-checkout.",
  "Do not discuss competitors, politics or medical advice; refer medical questions to the pharmacist.",
];

const QUESTIONS = [
  "How much is a liter of oat drink?",
  "Where do I find the rice?",
  "Can I return opened headphones?",
  "When does the pharmacy close today?",
  "Do you take checks?",
  "Is parking free?",
  "How much are free-range eggs?",
  "Which aisle has pet food?",
  "Can I pay with my phone?",
  "Do loyalty members get a discount?",
  "What time do you open on Sunday?",
  "How much is the sourdough loaf?",
];

/** A system prompt of at least `tokens` tokens (counted by `count`): the store rules, repeated with numbered sections as needed. */
async function systemPrompt(tokens: number, count: (text: string) => Promise<number>): Promise<{ text: string; tokens: number }> {
  let full = "You are the assistant of a grocery store. Follow these rules.";
  for (let i = 0; (await count(full)) < tokens; i++) full += `\n${Math.floor(i / RULES.length) + 1}.${(i % RULES.length) + 1} ${RULES[i % RULES.length]}`;
  // The fewest words that reach the target (a binary search over word counts).
  const words = full.split(" ");
  let lo = 1;
  let hi = words.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((await count(words.slice(0, mid).join(" "))) >= tokens) hi = mid;
    else lo = mid + 1;
  }
  const text = words.slice(0, lo).join(" ");
  return { text, tokens: await count(text) };
}

/** C conversations of `turns` turns each, all at once; each turn's answer is the next turn's history. */
async function trial(target: Target, system: string, c: number, turns: number, maxTokens: number, seed: number): Promise<Trial> {
  const start = performance.now();
  // Every conversation ends before a failure is reported, so none runs on into the next trial.
  const settled = await Promise.allSettled(
    Array.from({ length: c }, async (_, conversation) => {
      const messages: Message[] = [{ role: "system", content: system }];
      const done: Turn[] = [];
      for (let turn = 0; turn < turns; turn++) {
        const question = QUESTIONS[(seed + conversation * 5 + turn) % QUESTIONS.length]!;
        messages.push({ role: "user", content: `Customer ${seed}-${conversation}: ${question}` });
        const result = await target.chat(messages, maxTokens);
        messages.push({ role: "assistant", content: result.text });
        done.push({ ...result, turn });
      }
      return done;
    }),
  );
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return { turns: settled.flatMap((r) => (r.status === "fulfilled" ? r.value : [])), wallMs: performance.now() - start };
}

// --- a streaming chat client --------------------------------------------------------

// A connection per turn: llama-server may close a kept-alive connection after a stream, and a reused one then fails.
const agent = new Agent({ keepAlive: false, maxSockets: 64 });

async function streamChat(url: URL, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Omit<Turn, "turn">> {
  let first: number | undefined;
  let last: number | undefined;
  let maxGapMs = 0;
  let text = "";
  let chunks = 0;
  let usageTokens: number | undefined;
  const { start, end } = await postSse(
    url,
    { ...body, stream: true, stream_options: { include_usage: true } },
    (event, now) => {
      const delta = (event.choices as Array<{ delta?: { content?: string | null } }> | undefined)?.[0]?.delta?.content;
      if (delta) {
        if (last !== undefined) maxGapMs = Math.max(maxGapMs, now - last);
        first ??= now;
        last = now;
        text += delta;
        chunks++;
      }
      const usage = event.usage as { completion_tokens?: number } | null | undefined;
      if (usage?.completion_tokens !== undefined) usageTokens = usage.completion_tokens;
    },
    { agent, headers },
  );
  return { text, tokens: usageTokens ?? chunks, ttftMs: (first ?? end) - start, maxGapMs };
}

// --- targets ------------------------------------------------------------------

/** llama-server as its users start it: its defaults, the threads given, and any extra flags. */
async function rawLlamaServer(binary: string, model: string, threads: number, extra: string[]): Promise<Target & { tokenCount(text: string): Promise<number> }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const args = ["--model", model, "--host", "127.0.0.1", "--port", String(port), "--threads", String(threads), "--threads-batch", String(threads), ...extra];
  // Its log goes to a file, for when it fails.
  const log = openSync(join(tmpdir(), `edgelm-bench-raw-${port}.log`), "w");
  const child = spawn(binary, args, { stdio: ["ignore", log, log] });
  closeSync(log);
  const base = `http://127.0.0.1:${port}`;
  await waitHealthy(base, child, "llama-server");
  const url = new URL("/v1/chat/completions", base);
  return {
    name: extra.length ? `raw llama-server ${extra.join(" ")}` : "raw llama-server (defaults)",
    chat: (messages, maxTokens) => streamChat(url, { messages, max_tokens: maxTokens, temperature: 0 }),
    tokenCount: async (text) => {
      const reply = (await (await fetch(`${base}/tokenize`, { method: "POST", body: JSON.stringify({ content: text, add_special: true }) })).json()) as { tokens: number[] };
      return reply.tokens.length;
    },
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
    },
  };
}

/** `edgelm serve` from a config file, as users run it. */
async function edgelm(kind: "edgelm" | "edgelm-cold" | "node", binary: string, model: string, threads: number, parallel: number, system: string, batchSize?: number): Promise<Target> {
  const home = mkdtempSync(join(tmpdir(), "edgelm-bench-prefix-"));
  const engine = kind === "node" ? "node-llama-cpp" : "llama-server";
  const config = {
    engine: { backend: engine, llama_server: binary, threads: { prompt: threads, decode: threads }, prefix_cache: { enabled: kind !== "edgelm-cold" }, ...(batchSize ? { batch_size: batchSize } : {}) },
    // No per-request limit: on a loaded machine a queued turn at c = 16 can wait longer than the default 300 s.
    server: { parallel, queue: 256, request_timeout_ms: 0, models: [{ name: "bench", ref: model, ...(kind === "edgelm-cold" ? {} : { warm_prefixes: [{ text: system }] }) }] },
  };
  const configPath = join(home, "config.yaml");
  writeFileSync(configPath, JSON.stringify(config));
  const { child, url: base } = await startServeProcess(undefined, home, ["--config", configPath]);
  const url = new URL("/v1/chat/completions", base);
  const names = { edgelm: "edgelm → llama-server", "edgelm-cold": "edgelm → llama-server, no prefix cache", node: "edgelm → node-llama-cpp" };
  return {
    name: `${names[kind]}${batchSize ? `, batch ${batchSize}` : ""}`,
    chat: (messages, maxTokens) => streamChat(url, { model: "bench", messages, max_tokens: maxTokens, temperature: 0 }),
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
      rmSync(home, { recursive: true, force: true });
    },
  };
}

// --- statistics ----------------------------------------------------------------

const ms = (v: number): string => (Number.isFinite(v) ? (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(0)} ms`) : "–");

async function synthetic360m(path: string): Promise<void> {
  if (existsSync(path) && statSync(path).size > 300_000_000) return;
  process.stderr.write(`writing a 360M-shaped Q8_0 synthetic model to ${path} (once)\n`);
  await writeSyntheticModel(path, { shape: parseSyntheticShape("360m"), type: "q8_0" });
}

// --- the run ------------------------------------------------------------------

const args = parseArgs(process.argv.slice(2));
if (args.model === "/tmp/m360-q8_0.gguf") await synthetic360m(args.model);
const version = (await inspectLlamaServer(args.binary)).version;
const cpu = readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.+)/)?.[1] ?? "?";
process.stdout.write(`llama-server: ${args.binary} (${version}); machine: ${cpu}; load average at start: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}\n`);

// The system prompt is sized with the model's own tokenizer (a plain llama-server started for it).
const counter = await rawLlamaServer(args.binary, args.model, args.threads, ["--parallel", "1", "--ctx-size", "4096"]);
const system = await systemPrompt(args.systemTokens, (t) => counter.tokenCount(t));
await counter.stop();
process.stderr.write(`system prompt: ${system.tokens} tokens (${system.text.length} characters)\n`);

const targets: Target[] = [];
for (const t of args.targets) {
  process.stderr.write(`starting ${t}\n`);
  if (t.startsWith("raw")) {
    const extra = t.includes(":") ? t.slice(t.indexOf(":") + 1).split(/\s+/).filter(Boolean) : [];
    targets.push(await rawLlamaServer(args.binary, args.model, args.threads, extra));
  } else {
    const batch = /^edgelm-b(\d+)$/.exec(t)?.[1];
    const kind = (batch ? "edgelm" : t) as "edgelm" | "edgelm-cold" | "node";
    targets.push(await edgelm(kind, args.binary, args.model, args.threads, args.parallel, system.text, batch ? Number(batch) : undefined));
  }
}

type Key = string;
const key = (c: number, answer: number): Key => `${c}/${answer}`;
const settings = args.clients.flatMap((c) => args.answers.map((a) => ({ c, answer: a })));
const perRound = new Map<string, Map<Key, Array<{ tokensPerSecond: number; ttft: number[]; firstTtft: number[]; maxGapMs: number; tokensPerTurn: number }>>>();
for (const t of targets) perRound.set(t.name, new Map(settings.map((s) => [key(s.c, s.answer), []])));

const failures: Array<{ target: string; concurrency: number; answerTokens: number; round: number; message: string }> = [];
try {
  process.stderr.write("warming up (one conversation per target)\n");
  for (const t of targets) await trial(t, system.text, 1, 1, 4, 999);
  for (let round = 0; round < args.rounds; round++) {
    for (const [i, s] of settings.entries()) {
      for (const t of rotate(targets, round + i)) {
        process.stderr.write(`  round ${round + 1}/${args.rounds}, c=${s.c}, ${s.answer}-token answers: ${t.name}\n`);
        let result: Trial;
        try {
          result = await trial(t, system.text, s.c, args.turns, s.answer, round * 100 + i * 17);
        } catch (error) {
          // A target that fails a trial (e.g. llama-server's "Context size has been exceeded") is reported, and the run goes on.
          const message = (error as Error).message;
          failures.push({ target: t.name, concurrency: s.c, answerTokens: s.answer, round: round + 1, message });
          process.stderr.write(`    failed: ${message}\n`);
          perRound.get(t.name)!.get(key(s.c, s.answer))!.push({ tokensPerSecond: NaN, ttft: [], firstTtft: [], maxGapMs: NaN, tokensPerTurn: NaN });
          continue;
        }
        const tokens = result.turns.reduce((sum, x) => sum + x.tokens, 0);
        const run = {
          tokensPerSecond: (tokens * 1000) / result.wallMs,
          ttft: result.turns.map((x) => x.ttftMs),
          firstTtft: result.turns.filter((x) => x.turn === 0).map((x) => x.ttftMs),
          maxGapMs: Math.max(...result.turns.map((x) => x.maxGapMs)),
          tokensPerTurn: tokens / result.turns.length,
        };
        perRound.get(t.name)!.get(key(s.c, s.answer))!.push(run);
        // Each trial's figures as it ends, so a long run that is stopped still says something.
        process.stderr.write(
          `    ${fmt(run.tokensPerSecond)} tokens/s, TTFT p50 ${ms(quantile(run.ttft, 0.5))} p95 ${ms(quantile(run.ttft, 0.95))}, first turns p95 ${ms(quantile(run.firstTtft, 0.95))}, max gap ${ms(run.maxGapMs)}\n`,
        );
      }
    }
  }
} finally {
  for (const t of targets) await t.stop();
  agent.destroy();
}

const rows = [];
for (const s of settings) {
  for (const t of targets) {
    const runs = perRound.get(t.name)!.get(key(s.c, s.answer))!;
    rows.push({
      target: t.name,
      concurrency: s.c,
      answerTokens: s.answer,
      tokensPerSecond: median(runs.map((r) => r.tokensPerSecond)),
      ttftP50Ms: median(runs.map((r) => quantile(r.ttft, 0.5))),
      ttftP95Ms: median(runs.map((r) => quantile(r.ttft, 0.95))),
      firstTurnTtftP95Ms: median(runs.map((r) => quantile(r.firstTtft, 0.95))),
      maxGapMs: median(runs.map((r) => r.maxGapMs)),
      tokensPerTurn: median(runs.map((r) => r.tokensPerTurn)),
    });
  }
}
const reference = targets[0]!.name;
const ratios = [];
for (const s of settings) {
  const base = perRound.get(reference)!.get(key(s.c, s.answer))!;
  for (const t of targets.slice(1)) {
    const runs = perRound.get(t.name)!.get(key(s.c, s.answer))!;
    ratios.push({ target: t.name, concurrency: s.c, answerTokens: s.answer, overReference: median(runs.map((r, i) => r.tokensPerSecond / base[i]!.tokensPerSecond)) });
  }
}

process.stdout.write(
  `\n${basename(args.model)} — system prompt ${system.tokens} tokens, ${args.turns} turns per conversation, streaming chat completions (greedy), ` +
    `${args.threads} threads, edgelm ${args.parallel} slots, ${args.rounds} interleaved round(s); medians over rounds\n`,
);
process.stdout.write(`${"target".padEnd(42)}${"c".padStart(4)}${"answer".padStart(8)}${"tokens/s".padStart(10)}${"TTFT p50".padStart(10)}${"TTFT p95".padStart(10)}${"1st-turn p95".padStart(14)}${"max gap".padStart(10)}${"tok/turn".padStart(10)}\n`);
for (const r of rows) {
  process.stdout.write(
    `${r.target.padEnd(42)}${String(r.concurrency).padStart(4)}${String(r.answerTokens).padStart(8)}${fmt(r.tokensPerSecond).padStart(10)}${ms(r.ttftP50Ms).padStart(10)}${ms(r.ttftP95Ms).padStart(10)}${ms(r.firstTurnTtftP95Ms).padStart(14)}${ms(r.maxGapMs).padStart(10)}${fmt(r.tokensPerTurn).padStart(10)}\n`,
  );
}
process.stdout.write(`\naggregate tokens/s over ${reference} (medians of per-round ratios)\n`);
for (const r of ratios) process.stdout.write(`  c=${String(r.concurrency).padEnd(3)} ${String(r.answerTokens).padStart(3)}-token answers  ${r.target.padEnd(42)} ${fmt(r.overReference, 2)}x\n`);
const targetRows = rows.filter((r) => r.target === "edgelm → llama-server" && r.concurrency === 4);
for (const r of targetRows) {
  const ratio = ratios.find((x) => x.target === r.target && x.concurrency === 4 && x.answerTokens === r.answerTokens)?.overReference ?? NaN;
  process.stdout.write(
    `  targets at c=4, ${r.answerTokens}-token answers: TTFT p95 ${ms(r.ttftP95Ms)} (<= 200 ms: ${r.ttftP95Ms <= 200 ? "meets" : "MISSES"}); ` +
      `tokens/s ${fmt(ratio, 2)}x ${reference} (>= 1.5x: ${ratio >= 1.5 ? "meets" : "MISSES"})\n`,
  );
}
for (const f of failures) process.stdout.write(`  FAILED: ${f.target}, c=${f.concurrency}, ${f.answerTokens}-token answers, round ${f.round}: ${f.message}\n`);
if (args.json) writeFileSync(args.json, `${JSON.stringify({ llamaServer: args.binary, version, model: args.model, systemTokens: system.tokens, rounds: args.rounds, rows, ratios, failures }, null, 2)}\n`);
