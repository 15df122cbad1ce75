/**
 * Drives hostile requests (request-cases.ts) at a running gateway, a few at a
 * time, while other clients stream, and reports what must hold: every request
 * answered within its deadline (no hang), no 5xx, no runner exit, every other
 * client's stream complete, and the gateway's and runners' resident memory
 * back within a bound once it is over. Used by bench/fuzz-requests.ts (10,000
 * cases) and by the test suite (a few hundred).
 */
import type { RunnerExitEvent } from "../../src/scheduler/gateway-events.js";
import type { Gateway } from "../../src/server/gateway.js";
import type { RequestCase } from "./request-cases.js";

export interface RequestFuzzReport {
  cases: number;
  byStatus: Record<string, number>;
  byKind: Record<string, Record<string, number>>;
  /** Statuses per route (method and path, blob digests left out). */
  byRoute: Record<string, Record<string, number>>;
  /** Requests answered with a 5xx or a stream that failed in-band with a server fault. */
  failures: Array<{ kind: string; path: string; status: number; detail: string }>;
  /** Requests with no complete answer within the deadline. */
  hangs: Array<{ kind: string; path: string }>;
  /** Runner processes that exited unexpectedly (crashes, kills, OOMs) while the fuzz ran; an on-demand model unloading is no such exit. */
  runnerExits: number;
  /** Each of those: model, exit code or signal. */
  runnerExitDetails: string[];
  /** The other clients' streams: how many completed, and how each failure ended. */
  streams: { completed: number; failed: string[] };
  rss: { gatewayBeforeMb: number; gatewayAfterMb: number; runnersBeforeMb: number; runnersAfterMb: number };
  durationMs: number;
}

export interface RequestFuzzOptions {
  url: string;
  gateway: Gateway;
  /** The served model the other clients stream from. */
  model: string;
  cases: readonly RequestCase[];
  /** Fuzz requests in flight at once. Default 4. */
  concurrency?: number;
  /** Clients streaming meanwhile (half OpenAI SSE, half Ollama NDJSON). Default 2. */
  streams?: number;
  /** A request not answered completely within this is a hang, in ms. Default 30000. */
  timeoutMs?: number;
  /** The inference key the streaming clients send, when the gateway has `server.api_keys`. */
  apiKey?: string;
}

const mb = (bytes: number): number => Math.round((bytes / (1024 * 1024)) * 10) / 10;

/** The probes answer 503 while a model loads (docs/api.md); the fuzzer's creates and copies load models on demand. */
const PROBES = new Set(["/ready", "/v1/health"]);

/** A 5xx (but a probe's documented 503), or a stream that ended with a server-side fault in-band. */
function serverFault(path: string, status: number, text: string): string | undefined {
  if (status === 503 && PROBES.has(path)) return undefined;
  if (status >= 500) return text.slice(0, 300);
  if (status === 200 && /"(runner_crashed|internal|timeout|model_not_ready)"|event: error/.test(text.slice(-2000))) return `in-band: ${text.slice(-300)}`;
  return undefined;
}

async function send(url: string, item: RequestCase, timeoutMs: number): Promise<{ status: number; text: string } | undefined> {
  try {
    const response = await fetch(`${url}${item.path}`, {
      method: item.method,
      headers: { "content-type": item.contentType ?? "application/json", ...(item.authorization ? { authorization: item.authorization } : {}) },
      ...(item.body !== undefined ? { body: item.body } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: response.status, text: await response.text() };
  } catch (error) {
    if ((error as Error).name === "TimeoutError") return undefined;
    // The server closed the connection without an answer (e.g. a body it refused mid-upload): record it as such.
    return { status: 0, text: String((error as Error).cause ?? error) };
  }
}

/** One streaming client: completes streams back to back until `stop` is set; each must end with its end marker and no error. */
async function streamingClient(url: string, model: string, ollama: boolean, state: { stop: boolean }, streams: RequestFuzzReport["streams"], apiKey?: string): Promise<void> {
  while (!state.stop) {
    const [path, body, end] = ollama
      ? ["/api/generate", { model, prompt: "Once upon a time", options: { num_predict: 48 } }, /"done":true/]
      : ["/v1/chat/completions", { model, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 48, stream: true }, /data: \[DONE\]/];
    const answer = await send(url, { kind: "stream", method: "POST", path, body: JSON.stringify(body), ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) }, 60_000);
    if (answer && answer.status === 200 && end.test(answer.text) && !/event: error|"error"/.test(answer.text)) streams.completed++;
    else streams.failed.push(answer ? `${path} ${answer.status}: ${answer.text.slice(-200)}` : `${path}: no answer in 60 s`);
  }
}

async function runnerRss(gateway: Gateway): Promise<number> {
  let total = 0;
  for (const model of gateway.models()) {
    try {
      for (const health of await gateway.pool(model.name).health()) total += "rssBytes" in health ? health.rssBytes : 0;
    } catch {
      // a routed model has no pool
    }
  }
  return total;
}

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000));
  (globalThis as { gc?: () => void }).gc?.();
}

export async function runRequestFuzz(options: RequestFuzzOptions): Promise<RequestFuzzReport> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const report: RequestFuzzReport = {
    cases: options.cases.length,
    byStatus: {},
    byKind: {},
    byRoute: {},
    failures: [],
    hangs: [],
    runnerExits: 0,
    runnerExitDetails: [],
    streams: { completed: 0, failed: [] },
    rss: { gatewayBeforeMb: 0, gatewayAfterMb: 0, runnersBeforeMb: 0, runnersAfterMb: 0 },
    durationMs: 0,
  };
  const onExit = (exit: RunnerExitEvent): void => {
    if (exit.expected) return;
    report.runnerExits++;
    report.runnerExitDetails.push(`${exit.model} ${exit.runnerId}: ${exit.signal ?? `code ${exit.code}`}`);
  };
  options.gateway.events.on("runner:exit", onExit);
  await settle();
  report.rss.gatewayBeforeMb = mb(process.memoryUsage().rss);
  report.rss.runnersBeforeMb = mb(await runnerRss(options.gateway));
  const started = performance.now();
  const state = { stop: false };
  const clients = Array.from({ length: options.streams ?? 2 }, (_, i) => streamingClient(options.url, options.model, i % 2 === 1, state, report.streams, options.apiKey));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.cases.length) {
      const item = options.cases[next++]!;
      const answer = await send(options.url, item, timeoutMs);
      // Admin calls by who holds which key (admin:none:guarded ...), the rest by family.
      const family = item.kind.startsWith("admin:") ? item.kind : item.kind.split(":")[0]!;
      const status = answer ? String(answer.status) : "hang";
      report.byStatus[status] = (report.byStatus[status] ?? 0) + 1;
      const kinds = (report.byKind[family] ??= {});
      kinds[status] = (kinds[status] ?? 0) + 1;
      const routes = (report.byRoute[`${item.method} ${item.path.startsWith("/api/blobs/") ? "/api/blobs/:digest" : item.path}`] ??= {});
      routes[status] = (routes[status] ?? 0) + 1;
      if (!answer) {
        report.hangs.push({ kind: item.kind, path: item.path });
        continue;
      }
      const fault = serverFault(item.path, answer.status, answer.text);
      if (fault !== undefined) report.failures.push({ kind: item.kind, path: item.path, status: answer.status, detail: fault });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  state.stop = true;
  await Promise.all(clients);
  report.durationMs = Math.round(performance.now() - started);
  options.gateway.events.off("runner:exit", onExit);
  await settle();
  report.rss.gatewayAfterMb = mb(process.memoryUsage().rss);
  report.rss.runnersAfterMb = mb(await runnerRss(options.gateway));
  return report;
}
