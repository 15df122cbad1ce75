/**
 * The size of each node-llama-cpp runner's compiled-grammar cache
 * (src/engine/grammar-cache.ts), read from the runner's health call on every
 * scrape of /metrics: `edgelm_grammar_cache_entries`, `_bytes` and
 * `_evictions_total`, labelled `model` and `runner`. llama-server runners keep
 * no such cache (it compiles each request's grammar): there these series are
 * absent, as they are for a runner that does not answer within the limit.
 */
import { Counter, Gauge } from "prom-client";
import type { Runner } from "../engine/runner.js";
import type { MetricsRegistry } from "./metrics-registry.js";

export interface GrammarCacheRunnerView {
  model: string;
  runnerId: string;
  runner: Pick<Runner, "health">;
}

type CacheFigures = { model: string; runner: string; entries: number; bytes: number; evictions: number };

export class GrammarCacheMetrics {
  /** The latest scrape, shared by the three metrics' collect() within one /metrics render. */
  private pending: Promise<CacheFigures[]> | undefined;

  constructor(
    registry: MetricsRegistry,
    private readonly runners: () => GrammarCacheRunnerView[],
    private readonly timeoutMs = 1000,
  ) {
    const owner = this;
    const common = { labelNames: ["model", "runner"] as const, registers: [registry.registry] };
    new Gauge({
      ...common,
      name: "edgelm_grammar_cache_entries",
      help: "Compiled grammars (JSON schemas, GBNF) a runner keeps for reuse; bounded by engine.grammar_cache.max_entries.",
      async collect() {
        this.reset();
        for (const r of await owner.scrape()) this.set({ model: r.model, runner: r.runner }, r.entries);
      },
    });
    new Gauge({
      ...common,
      name: "edgelm_grammar_cache_bytes",
      help: "Estimated bytes those grammars hold; bounded by engine.grammar_cache.max_bytes.",
      async collect() {
        this.reset();
        for (const r of await owner.scrape()) this.set({ model: r.model, runner: r.runner }, r.bytes);
      },
    });
    new Counter({
      ...common,
      name: "edgelm_grammar_cache_evictions_total",
      help: "Grammars dropped (least recently used first) to stay within those bounds.",
      async collect() {
        this.reset();
        for (const r of await owner.scrape()) this.inc({ model: r.model, runner: r.runner }, r.evictions);
      },
    });
  }

  private scrape(): Promise<CacheFigures[]> {
    if (!this.pending) {
      this.pending = this.scrapeAll();
      setImmediate(() => (this.pending = undefined));
    }
    return this.pending;
  }

  private async scrapeAll(): Promise<CacheFigures[]> {
    const results = await Promise.all(
      this.runners().map(async (r): Promise<CacheFigures | undefined> => {
        try {
          const cache = (await r.runner.health(this.timeoutMs)).grammarCache;
          return cache ? { model: r.model, runner: r.runnerId, ...cache } : undefined;
        } catch {
          return undefined;
        }
      }),
    );
    return results.filter((r) => r !== undefined);
  }
}
