/**
 * This build's gateway against another build's, side by side in one run: the
 * same streaming chat request (no tools) to `edgelm serve` from each, in
 * interleaved rounds, medians (these machines are noisy). For "a change
 * costs requests that do not use it nothing": build the other revision
 * elsewhere (e.g. `git archive main | tar -x -C /tmp/base`, link node_modules,
 * `npx tsc -p tsconfig.json` there) and point --baseline at its CLI.
 *
 * Usage: node dist/bench/chat-ab.js --baseline /tmp/base/dist/src/cli/main.js
 *          [--model path.gguf] [--rounds 9] [--tokens 16,128] [--json out.json]
 * Default model: stories260K (EDGELM_TEST_MODEL or ../shared/models/stories260K.gguf).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./bench-stats.js";
import { postSse } from "./sse-post.js";
import { startServeProcess, type ServeProcess } from "./serve-process.js";

const REPO = resolve(fileURLToPath(new URL("../../", import.meta.url)));

function parseArgs(argv: string[]) {
  let baseline: string | undefined;
  let model = process.env.EDGELM_TEST_MODEL ?? resolve(REPO, "../shared/models/stories260K.gguf");
  let rounds = 9;
  let tokens = [16, 128];
  let json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const value = (): string => argv[++i] ?? "";
    const arg = argv[i];
    if (arg === "--baseline") baseline = value();
    else if (arg === "--model") model = value();
    else if (arg === "--rounds") rounds = Number(value());
    else if (arg === "--tokens") tokens = value().split(",").map(Number);
    else if (arg === "--json") json = value();
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!baseline) throw new Error("--baseline <other build's dist/src/cli/main.js> is required");
  return { baseline, model, rounds, tokens, json };
}

interface Trial {
  ttftMs: number;
  totalMs: number;
  tokensPerSecond: number;
}

async function chat(serve: ServeProcess, agent: Agent, maxTokens: number, seed: number): Promise<Trial> {
  let first: number | undefined;
  let tokens = 0;
  const body = {
    model: "bench",
    messages: [{ role: "user", content: "Once upon a time" }],
    max_tokens: maxTokens,
    temperature: 0.8,
    seed,
    stream: true,
    stream_options: { include_usage: true },
  };
  const { start, end } = await postSse(new URL("/v1/chat/completions", serve.url), body, (event, now) => {
    const delta = (event.choices as Array<{ delta?: { content?: string } }> | undefined)?.[0]?.delta?.content;
    if (delta) first ??= now;
    const usage = event.usage as { completion_tokens?: number } | null | undefined;
    if (usage?.completion_tokens) tokens = usage.completion_tokens;
  }, { agent });
  // Tokens after the first, over the time after it (several tokens may share one event).
  const decode = end - (first ?? end);
  return { ttftMs: (first ?? end) - start, totalMs: end - start, tokensPerSecond: tokens > 1 && decode > 0 ? ((tokens - 1) * 1000) / decode : 0 };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const home = mkdtempSync(join(tmpdir(), "edgelm-chat-ab-"));
  const flags = ["--threads", "1", "--parallel", "1"];
  const builds = { this: await startServeProcess(args.model, join(home, "a"), flags), baseline: await startServeProcess(args.model, join(home, "b"), flags, args.baseline) };
  const agent = new Agent({ keepAlive: true });
  const rows: Array<Record<string, number | string>> = [];
  try {
    for (const maxTokens of args.tokens) {
      const trials: Record<string, Trial[]> = { this: [], baseline: [] };
      for (const name of ["this", "baseline"] as const) await chat(builds[name], agent, maxTokens, 0); // warm-up
      for (let round = 0; round < args.rounds; round++) {
        // Alternate who goes first, so drift in the machine's load falls on both.
        const order = round % 2 ? (["baseline", "this"] as const) : (["this", "baseline"] as const);
        for (const name of order) trials[name]!.push(await chat(builds[name], agent, maxTokens, round + 1));
      }
      const stat = (name: string, key: keyof Trial) => median(trials[name]!.map((t) => t[key]));
      rows.push({
        max_tokens: maxTokens,
        this_tokens_per_s: stat("this", "tokensPerSecond"),
        baseline_tokens_per_s: stat("baseline", "tokensPerSecond"),
        tokens_per_s_ratio: stat("this", "tokensPerSecond") / stat("baseline", "tokensPerSecond"),
        this_ttft_ms: stat("this", "ttftMs"),
        baseline_ttft_ms: stat("baseline", "ttftMs"),
        this_total_ms: stat("this", "totalMs"),
        baseline_total_ms: stat("baseline", "totalMs"),
        total_ratio: stat("this", "totalMs") / stat("baseline", "totalMs"),
      });
    }
  } finally {
    agent.destroy();
    for (const serve of Object.values(builds)) serve.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    rmSync(home, { recursive: true, force: true });
  }
  console.log(`chat, streamed, no tools; ${args.rounds} interleaved rounds, medians (this build vs ${args.baseline})`);
  for (const row of rows) {
    console.log(
      `max_tokens ${row.max_tokens}: tokens/s ${fmt(row.this_tokens_per_s)} vs ${fmt(row.baseline_tokens_per_s)} (×${fmt(row.tokens_per_s_ratio, 3)}), ` +
        `first token ${fmt(row.this_ttft_ms)} vs ${fmt(row.baseline_ttft_ms)} ms, whole request ${fmt(row.this_total_ms)} vs ${fmt(row.baseline_total_ms)} ms (×${fmt(row.total_ratio, 3)})`,
    );
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ rounds: args.rounds, baseline: args.baseline, rows }, null, 2));
}

function fmt(value: number | string | undefined, digits = 1): string {
  return typeof value === "number" ? value.toFixed(digits) : String(value);
}

await main();
