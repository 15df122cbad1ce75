/**
 * The engine's own counters, re-exported under edgelm's names: on every scrape
 * of /metrics, each runner that has a Prometheus endpoint of its own
 * (llama-server's `/metrics`) is read and its figures appear as
 * `edgelm_engine_*{model, runner}`. node-llama-cpp runners have none, so on
 * them these metrics are absent (not zero).
 */
import { Counter, Gauge } from "prom-client";
import type { Runner } from "../engine/runner.js";
import type { MetricsRegistry } from "./metrics-registry.js";

/** llama-server's name (after `llamacpp:`) → ours. Only these are re-exported: the rest are averages of these or speculative decoding we do not use. */
const ENGINE_METRICS = [
  { source: "prompt_tokens_total", name: "edgelm_engine_prompt_tokens_total", type: "counter", help: "Prompt tokens the engine evaluated (cached ones excluded)." },
  { source: "prompt_tokens_cached_total", name: "edgelm_engine_prompt_tokens_cached_total", type: "counter", help: "Prompt tokens the engine reused from its KV cache." },
  { source: "prompt_seconds_total", name: "edgelm_engine_prompt_seconds_total", type: "counter", help: "Seconds the engine spent evaluating prompts." },
  { source: "tokens_predicted_total", name: "edgelm_engine_generated_tokens_total", type: "counter", help: "Tokens the engine generated." },
  { source: "tokens_predicted_seconds_total", name: "edgelm_engine_generation_seconds_total", type: "counter", help: "Seconds the engine spent generating tokens." },
  { source: "n_decode_total", name: "edgelm_engine_decode_calls_total", type: "counter", help: "llama_decode() calls (one per batched step)." },
  { source: "n_busy_slots_per_decode", name: "edgelm_engine_busy_slots_per_decode", type: "gauge", help: "Average sequences batched into one decode call." },
  { source: "requests_processing", name: "edgelm_engine_requests_processing", type: "gauge", help: "Requests the engine is working on now." },
  { source: "requests_deferred", name: "edgelm_engine_requests_deferred", type: "gauge", help: "Requests the engine holds back for want of a free slot." },
  { source: "n_tokens_max", name: "edgelm_engine_max_sequence_tokens", type: "gauge", help: "Longest sequence (prompt + generation) the engine has seen." },
] as const;

export interface EngineRunnerView {
  model: string;
  runnerId: string;
  runner: Pick<Runner, "metricsText">;
}

/** Parses `llamacpp:<name> <value>` samples (llama-server's metrics carry no labels). */
export function parseEngineMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^llamacpp:([A-Za-z_][A-Za-z0-9_]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (Number.isFinite(value)) values.set(match[1]!, value);
  }
  return values;
}

export class EngineMetrics {
  /** The latest scrape, shared by every metric's collect() within one /metrics render. */
  private pending: Promise<Array<{ model: string; runner: string; values: Map<string, number> }>> | undefined;

  constructor(
    registry: MetricsRegistry,
    private readonly runners: () => EngineRunnerView[],
    private readonly timeoutMs = 1000,
  ) {
    const registers = [registry.registry];
    const labelNames = ["model", "runner"] as const;
    for (const spec of ENGINE_METRICS) {
      const owner = this;
      // Each scrape sets the series afresh from the engines' current figures (a counter is re-filled with inc from zero).
      const fill = async (write: (labels: { model: string; runner: string }, value: number) => void): Promise<void> => {
        for (const r of await owner.scrape()) {
          const value = r.values.get(spec.source);
          if (value !== undefined) write({ model: r.model, runner: r.runner }, value);
        }
      };
      const common = { name: spec.name, help: spec.help, labelNames, registers };
      if (spec.type === "counter") {
        new Counter({
          ...common,
          async collect() {
            this.reset();
            await fill((labels, value) => this.inc(labels, value));
          },
        });
      } else {
        new Gauge({
          ...common,
          async collect() {
            this.reset();
            await fill((labels, value) => this.set(labels, value));
          },
        });
      }
    }
  }

  /** Reads every engine's endpoint once per render (the metrics' collect() calls start within one tick). */
  private scrape(): Promise<Array<{ model: string; runner: string; values: Map<string, number> }>> {
    if (!this.pending) {
      this.pending = this.scrapeAll();
      setImmediate(() => (this.pending = undefined));
    }
    return this.pending;
  }

  private async scrapeAll(): Promise<Array<{ model: string; runner: string; values: Map<string, number> }>> {
    const results = await Promise.all(
      this.runners()
        .filter((r) => r.runner.metricsText)
        .map(async (r) => {
          try {
            return { model: r.model, runner: r.runnerId, values: parseEngineMetrics(await r.runner.metricsText!(this.timeoutMs)) };
          } catch {
            // A runner that is starting, restarting or stuck has no figures this time: absent, not zero.
            return undefined;
          }
        }),
    );
    return results.filter((r) => r !== undefined);
  }
}
