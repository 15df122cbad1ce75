/**
 * What the gRPC API costs against HTTP SSE: one `edgelm serve --grpc-port`
 * process (one model, one runner), driven over both transports in interleaved
 * rounds — tokens/s (all clients together) and time to first token (request
 * sent → first text chunk at the client) at each concurrency. Medians over the
 * rounds, and per-round paired ratios (these machines are noisy). Targets:
 * gRPC ≥ 1.0x SSE tokens/s, gRPC TTFT ≤ SSE TTFT.
 *
 * Usage: node dist/bench/grpc-vs-sse.js [--model path.gguf] [--rounds 5] [--seconds 3] [--tokens 128]
 *          [--clients 1,16] [--parallel 16] [--json out.json]
 * Default model: stories260K (EDGELM_TEST_MODEL or ../shared/models/stories260K.gguf), where a token takes
 * under 2 ms — the worst case for per-token overhead.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { median } from "./bench-stats.js";
import { startServeProcess } from "./serve-process.js";
import { postSse } from "./sse-post.js";

const REPO = resolve(fileURLToPath(new URL("../../", import.meta.url)));
const PROMPTS = ["Once upon a time", "One day", "Tom and Lily", "The little dog"];

function parseArgs(argv: string[]) {
  const args = {
    model: process.env.EDGELM_TEST_MODEL ?? resolve(REPO, "../shared/models/stories260K.gguf"),
    rounds: 5,
    seconds: 3,
    tokens: 128,
    clients: [1, 16],
    parallel: 16,
    json: undefined as string | undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--model") args.model = resolve(value());
    else if (arg === "--rounds") args.rounds = Number(value());
    else if (arg === "--seconds") args.seconds = Number(value());
    else if (arg === "--tokens") args.tokens = Number(value());
    else if (arg === "--clients") args.clients = value().split(",").map(Number);
    else if (arg === "--parallel") args.parallel = Number(value());
    else if (arg === "--json") args.json = value();
    else throw new Error(`unknown argument ${arg}`);
  }
  return args;
}

/** One streamed generation: its completion tokens and the time from sending to the first text, in ms. */
type Stream = (prompt: string, maxTokens: number) => Promise<{ tokens: number; ttftMs: number }>;

function sseStream(baseUrl: string): Stream {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const url = new URL("/v1/completions", baseUrl);
  return async (prompt, maxTokens) => {
    let first: number | undefined;
    let tokens = 0;
    const body = { model: "bench", prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } };
    const { start } = await postSse(
      url,
      body,
      (event, now) => {
        const choice = (event.choices as Array<{ text?: string }> | undefined)?.[0];
        if (first === undefined && choice?.text) first = now;
        const usage = event.usage as { completion_tokens?: number } | null | undefined;
        if (usage?.completion_tokens !== undefined) tokens = usage.completion_tokens;
      },
      { agent },
    );
    return { tokens, ttftMs: (first ?? performance.now()) - start };
  };
}

function grpcStream(address: string): { stream: Stream; close: () => void } {
  const definition = protoLoader.loadSync("edgelm/v1/inference.proto", {
    includeDirs: [join(REPO, "proto")],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const Inference = (grpc.loadPackageDefinition(definition) as any).edgelm.v1.Inference;
  const client = new Inference(address, grpc.credentials.createInsecure());
  const stream: Stream = (prompt, maxTokens) =>
    new Promise((resolvePromise, reject) => {
      const start = performance.now();
      let first: number | undefined;
      let tokens = 0;
      const call = client.Generate({ model: "bench", prompt, options: { max_tokens: maxTokens, temperature: 0 } });
      call.on("data", (message: any) => {
        if (first === undefined && message.chunk?.text) first = performance.now();
        if (message.done) tokens = message.done.usage.completion_tokens;
      });
      call.on("error", reject);
      call.on("end", () => resolvePromise({ tokens, ttftMs: (first ?? performance.now()) - start }));
    });
  return { stream, close: () => client.close() };
}

interface Measurement {
  tokensPerSecond: number;
  ttftMs: number;
  requests: number;
}

/** `clients` clients sending generations back to back for `seconds`: aggregate tokens/s and the median TTFT. */
async function measure(stream: Stream, clients: number, maxTokens: number, seconds: number, round: number): Promise<Measurement> {
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  const ttfts: number[] = [];
  let tokens = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < until; i++) {
        const result = await stream(PROMPTS[(round + c + i) % PROMPTS.length]!, maxTokens);
        tokens += result.tokens;
        ttfts.push(result.ttftMs);
      }
    }),
  );
  return { tokensPerSecond: tokens / ((performance.now() - started) / 1000), ttftMs: median(ttfts), requests: ttfts.length };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const home = mkdtempSync(join(tmpdir(), "edgelm-bench-grpc-"));
  const config = join(home, "config.yaml");
  writeFileSync(config, "policies:\n  enabled: false\n");
  const server = await startServeProcess(args.model, home, [
    "--config", config, "--grpc-port", "0", "--threads", "1", "--prompt-threads", "1", "--parallel", String(args.parallel), "--ctx", "512", "--queue", "256",
  ]);
  const sse = sseStream(server.url);
  const grpcClient = grpcStream(server.grpcAddress!);
  const results: Array<Record<string, unknown>> = [];
  try {
    // Warm up both paths (connections, prompt cache, JIT).
    for (const s of [sse, grpcClient.stream]) await measure(s, 2, args.tokens, 1, 0);
    for (const clients of args.clients) {
      const a: Measurement[] = [];
      const b: Measurement[] = [];
      for (let round = 0; round < args.rounds; round++) {
        // Alternate which goes first so neither always meets a warmer or cooler machine.
        const order = round % 2 === 0 ? ["grpc", "sse"] : ["sse", "grpc"];
        for (const which of order) {
          const m = await measure(which === "grpc" ? grpcClient.stream : sse, clients, args.tokens, args.seconds, round);
          (which === "grpc" ? a : b).push(m);
        }
      }
      const row = {
        clients,
        grpcTokensPerSecond: median(a.map((m) => m.tokensPerSecond)),
        sseTokensPerSecond: median(b.map((m) => m.tokensPerSecond)),
        tokensPerSecondRatio: median(a.map((m, i) => m.tokensPerSecond / b[i]!.tokensPerSecond)),
        grpcTtftMs: median(a.map((m) => m.ttftMs)),
        sseTtftMs: median(b.map((m) => m.ttftMs)),
        ttftRatio: median(a.map((m, i) => m.ttftMs / b[i]!.ttftMs)),
        requests: { grpc: a.reduce((n, m) => n + m.requests, 0), sse: b.reduce((n, m) => n + m.requests, 0) },
      };
      results.push(row);
    }
  } finally {
    grpcClient.close();
    const exited = new Promise((r) => server.child.once("exit", r));
    server.child.kill("SIGTERM");
    await exited;
    rmSync(home, { recursive: true, force: true });
  }
  const fixed = (v: unknown, digits: number): string => (v as number).toFixed(digits);
  process.stdout.write(
    `\n${basename(args.model)} — one edgelm serve, ${args.tokens}-token generations back to back for ${args.seconds} s per measurement, ${args.rounds} interleaved rounds, ${args.parallel} slots\n` +
      "| clients | gRPC tokens/s | SSE tokens/s | gRPC / SSE (paired median) | gRPC TTFT ms | SSE TTFT ms | gRPC / SSE TTFT |\n|---|---|---|---|---|---|---|\n" +
      results
        .map((r) => `| ${r.clients} | ${fixed(r.grpcTokensPerSecond, 0)} | ${fixed(r.sseTokensPerSecond, 0)} | ${fixed(r.tokensPerSecondRatio, 3)}x | ${fixed(r.grpcTtftMs, 2)} | ${fixed(r.sseTtftMs, 2)} | ${fixed(r.ttftRatio, 3)}x |`)
        .join("\n") +
      "\n",
  );
  if (args.json) writeFileSync(args.json, `${JSON.stringify({ ...args, results }, null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
