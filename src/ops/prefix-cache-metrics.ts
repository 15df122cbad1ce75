/**
 * Prompt-prefix reuse in each llama-server runner's slots (warm prefixes,
 * conversations continued on the slot holding their history), read from the
 * runner on every scrape of /metrics, labelled `model` and `runner`:
 * `edgelm_prefix_cache_hits_total` / `_misses_total` (a hit reused at least half
 * of its prompt), `edgelm_prompt_tokens_reused_total` / `_evaluated_total`,
 * `edgelm_warm_prefixes` and `edgelm_warm_prefix_bytes`. Runners that keep no
 * such figures (node-llama-cpp) have no series.
 */
import { Counter, Gauge } from "prom-client";
import type { PrefixCacheFigures, Runner } from "../engine/runner.js";
import type { MetricsRegistry } from "./metrics-registry.js";

export interface PrefixCacheRunnerView {
  model: string;
  runnerId: string;
  runner: Pick<Runner, "prefixCacheFigures">;
}

type Figures = PrefixCacheFigures & { model: string; runner: string };

export class PrefixCacheMetrics {
  constructor(
    registry: MetricsRegistry,
    private readonly runners: () => PrefixCacheRunnerView[],
  ) {
    const owner = this;
    const common = { labelNames: ["model", "runner"] as const, registers: [registry.registry] };
    const series: Array<{ name: string; help: string; kind: "counter" | "gauge"; value: (f: Figures) => number }> = [
      { name: "edgelm_prefix_cache_hits_total", help: "Generations that reused at least half of their prompt tokens from a slot's cache.", kind: "counter", value: (f) => f.hits },
      { name: "edgelm_prefix_cache_misses_total", help: "Generations that reused less than half of their prompt tokens.", kind: "counter", value: (f) => f.misses },
      { name: "edgelm_prompt_tokens_reused_total", help: "Prompt tokens taken from a slot's cache instead of evaluated.", kind: "counter", value: (f) => f.promptTokensReused },
      { name: "edgelm_prompt_tokens_evaluated_total", help: "Prompt tokens evaluated.", kind: "counter", value: (f) => f.promptTokensEvaluated },
      { name: "edgelm_warm_prefixes", help: "Warm prefixes placed in the runner's slots (server.models[].warm_prefixes).", kind: "gauge", value: (f) => f.warmPrefixes },
      { name: "edgelm_warm_prefixes_restored", help: "Of those, the ones restored at start from a state saved for the same model hash (not evaluated).", kind: "gauge", value: (f) => f.warmPrefixesRestored },
      { name: "edgelm_warm_prefix_bytes", help: "Bytes of KV state the warm prefixes hold in the slots (every slot's copy).", kind: "gauge", value: (f) => f.warmPrefixBytes },
    ];
    for (const s of series) {
      const collect = function (this: Counter<"model" | "runner"> | Gauge<"model" | "runner">): void {
        this.reset();
        for (const f of owner.read()) {
          const labels = { model: f.model, runner: f.runner };
          if (this instanceof Counter) this.inc(labels, s.value(f));
          else this.set(labels, s.value(f));
        }
      };
      if (s.kind === "counter") new Counter({ ...common, name: s.name, help: s.help, collect });
      else new Gauge({ ...common, name: s.name, help: s.help, collect });
    }
  }

  private read(): Figures[] {
    const out: Figures[] = [];
    for (const r of this.runners()) {
      const figures = r.runner.prefixCacheFigures?.();
      if (figures) out.push({ ...figures, model: r.model, runner: r.runnerId });
    }
    return out;
  }
}
