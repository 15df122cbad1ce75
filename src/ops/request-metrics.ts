/**
 * Request metrics per model and route, fed by the gateway's events: requests
 * by status, time to first token, inter-token latency, whole-request latency,
 * queue wait, prompt and generated tokens, decode tokens/s over a window,
 * requests running and queued, KV cache capacity and use, model load time and
 * runner restarts. Names and their llama.cpp / vLLM equivalents: docs/metrics.md.
 *
 * The token path is kept cheap: one map lookup, one cached histogram child and
 * a bucket increment per token; everything else happens once per request or at
 * scrape time.
 */
import { Counter, Gauge, Histogram } from "prom-client";
import { BUCKETS, type MetricsRegistry } from "./metrics-registry.js";
import type { ServedModelView } from "./policy-target.js";
import { WindowedQuantile } from "./windowed-quantile.js";
import { WindowedRate } from "./windowed-rate.js";

// The event payloads this module reads (the gateway's events carry more).
export interface RequestStarted {
  requestId: string;
  route: string;
  model: string;
}
export interface RequestAdmitted {
  requestId: string;
  route: string;
  model: string;
  queueWaitMs: number;
}
export interface FirstToken {
  requestId: string;
  route: string;
  model: string;
  ttftMs: number;
}
export interface TokensGenerated {
  requestId: string;
  model: string;
  tokens: number;
  /** performance.now() when they reached the gateway. */
  at: number;
}
export interface RequestEnded {
  requestId: string;
  route: string;
  model: string;
  status: number;
  errorCode?: string;
  promptTokens: number;
  completionTokens: number;
  durationMs: number;
}
export interface RunnerStarted {
  model: string;
  loadMs: number;
}
export interface RunnerRestarted {
  model: string;
}

interface InFlight {
  route: string;
  model: string;
  lastTokenAt: number | undefined;
  itl: Histogram.Internal<"model" | "route"> | undefined;
}

export interface RequestMetricsOptions {
  /** Window for decode tokens/s and the TTFT p95 policies read, in seconds. Default 60. */
  windowSeconds?: number;
  /** The served models, read at scrape time for running/queued/runner gauges. */
  models?: () => ServedModelView[];
}

/** The API a route belongs to: "openai" for "openai.chat", "grpc" for "grpc.generate"; "http" for the routes counted as "other". */
export function dialectOf(route: string): string {
  const dot = route.indexOf(".");
  return dot > 0 && !route.includes(" ") ? route.slice(0, dot) : "http";
}

export class RequestMetrics {
  private readonly requests: Counter<"model" | "route" | "status" | "dialect">;
  private readonly errors: Counter<"model" | "route" | "code" | "dialect">;
  private readonly ttft: Histogram<"model" | "route">;
  private readonly interToken: Histogram<"model" | "route">;
  private readonly duration: Histogram<"model" | "route">;
  private readonly queueWait: Histogram<"model" | "route">;
  private readonly promptTokens: Counter<"model" | "route">;
  private readonly generatedTokens: Counter<"model" | "route">;
  private readonly contextUsed: Histogram<"model" | "route">;
  private readonly modelLoad: Histogram<"model">;
  private readonly restarts: Counter<"model">;
  private readonly kills: Counter<"model" | "reason">;
  private readonly inFlight = new Map<string, InFlight>();
  private readonly itlChildren = new Map<string, Histogram.Internal<"model" | "route">>();
  private readonly tokenRates = new Map<string, WindowedRate>();
  private readonly allTokens: WindowedRate;
  private readonly ttftWindow: WindowedQuantile;
  private readonly windowSeconds: number;
  /** Context size per model, refreshed when a runner starts (a swap may change it). */
  private readonly contextSizes = new Map<string, number>();
  private readonly models: (() => ServedModelView[]) | undefined;

  constructor(metrics: MetricsRegistry, options: RequestMetricsOptions = {}) {
    const registers = [metrics.registry];
    const labelNames = ["model", "route"] as const;
    this.windowSeconds = options.windowSeconds ?? 60;
    this.allTokens = new WindowedRate(this.windowSeconds);
    this.ttftWindow = new WindowedQuantile(this.windowSeconds * 1000);
    this.requests = new Counter({
      name: "edgelm_requests_total",
      help: "Requests answered, by model, route (dialect.endpoint), HTTP status (499: the client went away; gRPC calls count under the HTTP equivalent of their status) and dialect (openai, ollama, grpc, ...).",
      labelNames: ["model", "route", "status", "dialect"],
      registers,
    });
    this.errors = new Counter({
      name: "edgelm_request_errors_total",
      help: "Requests that failed, by error code (queue_full, context_overflow, runner_crashed, ...).",
      labelNames: ["model", "route", "code", "dialect"],
      registers,
    });
    this.ttft = new Histogram({
      name: "edgelm_time_to_first_token_seconds",
      help: "Arrival of a request to its first generated token at the gateway (includes queue wait and prompt evaluation).",
      labelNames,
      buckets: [...BUCKETS.ttft],
      registers,
    });
    this.interToken = new Histogram({
      name: "edgelm_inter_token_latency_seconds",
      help: "Time between consecutive generated tokens of a request, as they reach the gateway.",
      labelNames,
      buckets: [...BUCKETS.interToken],
      registers,
    });
    this.duration = new Histogram({
      name: "edgelm_request_duration_seconds",
      help: "Arrival of a request to its last byte (every status).",
      labelNames,
      buckets: [...BUCKETS.request],
      registers,
    });
    this.queueWait = new Histogram({
      name: "edgelm_queue_wait_seconds",
      help: "Time a request waited in the admission queue for a free sequence.",
      labelNames,
      buckets: [...BUCKETS.queueWait],
      registers,
    });
    this.promptTokens = new Counter({ name: "edgelm_prompt_tokens_total", help: "Prompt tokens of finished requests.", labelNames, registers });
    this.generatedTokens = new Counter({ name: "edgelm_generated_tokens_total", help: "Tokens generated for finished requests.", labelNames, registers });
    this.contextUsed = new Histogram({
      name: "edgelm_request_context_used_ratio",
      help: "Share (0-1) of its sequence's context a finished request filled (prompt + generated tokens / context size).",
      labelNames,
      buckets: [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1],
      registers,
    });
    this.modelLoad = new Histogram({
      name: "edgelm_model_load_duration_seconds",
      help: "Time to start a runner process and load its model (first start, restarts, added runners, swaps).",
      labelNames: ["model"],
      buckets: [...BUCKETS.modelLoad],
      registers,
    });
    const served = options.models;
    this.restarts = new Counter({
      name: "edgelm_runner_restarts_total",
      help: "Runner processes restarted after they crashed or were killed.",
      labelNames: ["model"],
      registers,
      // Every served model has a sample from its start, 0 until the first restart: increase() over a series
      // that appears at its first restart cannot see that restart, and EdgelmRunnerRestarting would miss it.
      collect() {
        for (const m of served?.() ?? []) this.labels(m.name).inc(0);
      },
    });
    this.kills = new Counter({
      name: "edgelm_runner_kills_total",
      help: "Runners the gateway killed while they were alive, by reason (unresponsive: no health reply within server.runner_unresponsive_ms); each is then restarted.",
      labelNames: ["model", "reason"],
      registers,
    });
    const rates = this.tokenRates;
    new Gauge({
      name: "edgelm_decode_tokens_per_second",
      help: "Tokens generated per second over the metrics window (metrics.window_s), all of a model's requests together.",
      labelNames: ["model"],
      registers,
      collect() {
        this.reset();
        for (const [model, rate] of rates) this.set({ model }, rate.rate());
      },
    });
    const models = options.models;
    this.models = models;
    if (!models) return;
    const perModel = (name: string, help: string, value: (m: ServedModelView) => number | undefined): void => {
      new Gauge({
        name,
        help,
        labelNames: ["model"],
        registers,
        collect() {
          this.reset();
          for (const m of models()) {
            const v = value(m);
            if (v !== undefined) this.set({ model: m.name }, v);
          }
        },
      });
    };
    perModel("edgelm_requests_running", "Requests being generated now.", (m) => m.queue.inFlight);
    perModel("edgelm_requests_queued", "Requests waiting in the admission queue.", (m) => m.queue.waiting);
    perModel("edgelm_runners", "Runner processes serving the model (not counting ones draining).", (m) => m.runners.filter((r) => !r.draining).length);
    perModel("edgelm_kv_cache_capacity_tokens", "Tokens the model's KV caches hold: context size x parallel sequences x runners.", (m) =>
      m.info ? m.info.contextSize * m.runners.filter((r) => !r.draining).reduce((sum, r) => sum + r.parallel, 0) : undefined,
    );
    perModel("edgelm_kv_cache_usage_ratio", "Share (0-1) of the model's sequence slots (KV cache cells) held by requests now.", (m) =>
      m.queue.capacity > 0 ? Math.min(1, m.queue.inFlight / m.queue.capacity) : undefined,
    );
    new Gauge({
      name: "edgelm_model_info",
      help: "The file each served model runs now (1 per model): its reference, weight type (changes on a swap), engine (node-llama-cpp or llama-server) and, for a model following a registry tag, the manifest digest and version served.",
      labelNames: ["model", "ref", "quantization", "state", "backend", "digest", "version"],
      registers,
      collect() {
        this.reset();
        for (const m of models()) {
          const backend = [...new Set(m.runners.filter((r) => !r.draining).map((r) => r.backend))].join(",");
          const quantization = m.info?.quantization ?? m.summary?.predominantType ?? "";
          this.set({ model: m.name, ref: m.ref, quantization, state: m.state, backend, digest: m.rollout?.digest ?? "", version: m.rollout?.version ?? "" }, 1);
        }
      },
    });
  }

  /** Generated tokens (all models) over the last `seconds` (at most the window). */
  tokensOver(seconds: number): number {
    return seconds >= this.windowSeconds ? this.allTokens.total() : this.allTokens.rate() * seconds;
  }

  /** Generated tokens per second over the window, all models. */
  tokensPerSecond(): number {
    return this.allTokens.rate();
  }

  /** p95 time to first token over the window, in ms; undefined without requests. */
  ttftP95Ms(): number | undefined {
    return this.ttftWindow.quantile(0.95);
  }

  requestStarted(event: RequestStarted): void {
    this.inFlight.set(event.requestId, { route: event.route, model: event.model, lastTokenAt: undefined, itl: undefined });
  }

  requestAdmitted(event: RequestAdmitted): void {
    this.queueWait.labels(event.model, event.route).observe(event.queueWaitMs / 1000);
  }

  firstToken(event: FirstToken): void {
    this.ttft.labels(event.model, event.route).observe(event.ttftMs / 1000);
    this.ttftWindow.add(event.ttftMs);
  }

  tokens(event: TokensGenerated): void {
    let rate = this.tokenRates.get(event.model);
    if (!rate) this.tokenRates.set(event.model, (rate = new WindowedRate(this.windowSeconds)));
    rate.add(event.tokens, event.at);
    this.allTokens.add(event.tokens, event.at);
    const request = this.inFlight.get(event.requestId);
    if (!request) return;
    if (request.lastTokenAt !== undefined) {
      request.itl ??= this.itlChild(request.model, request.route);
      const gap = (event.at - request.lastTokenAt) / 1000 / event.tokens;
      for (let i = 0; i < event.tokens; i++) request.itl.observe(gap);
    }
    request.lastTokenAt = event.at;
  }

  requestEnded(event: RequestEnded): void {
    let contextSize = this.contextSizes.get(event.model);
    if (contextSize === undefined && event.completionTokens > 0) {
      this.refreshContextSizes();
      contextSize = this.contextSizes.get(event.model);
    }
    this.inFlight.delete(event.requestId);
    const dialect = dialectOf(event.route);
    this.requests.labels(event.model, event.route, String(event.status), dialect).inc();
    if (event.errorCode) this.errors.labels(event.model, event.route, event.errorCode, dialect).inc();
    this.duration.labels(event.model, event.route).observe(event.durationMs / 1000);
    if (event.promptTokens > 0) this.promptTokens.labels(event.model, event.route).inc(event.promptTokens);
    if (event.completionTokens > 0) this.generatedTokens.labels(event.model, event.route).inc(event.completionTokens);
    if (contextSize && event.promptTokens + event.completionTokens > 0) {
      this.contextUsed.labels(event.model, event.route).observe(Math.min(1, (event.promptTokens + event.completionTokens) / contextSize));
    }
  }

  runnerStarted(event: RunnerStarted): void {
    this.modelLoad.labels(event.model).observe(event.loadMs / 1000);
    this.refreshContextSizes();
  }

  runnerRestarted(event: RunnerRestarted): void {
    this.restarts.labels(event.model).inc();
  }

  runnerKilled(event: { model: string; reason: string }): void {
    this.kills.labels(event.model, event.reason).inc();
  }

  private refreshContextSizes(): void {
    for (const m of this.models?.() ?? []) if (m.info) this.contextSizes.set(m.name, m.info.contextSize);
  }

  private itlChild(model: string, route: string): Histogram.Internal<"model" | "route"> {
    const key = `${model}\u0000${route}`;
    let child = this.itlChildren.get(key);
    if (!child) this.itlChildren.set(key, (child = this.interToken.labels(model, route)));
    return child;
  }
}
