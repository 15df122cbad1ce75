/**
 * Requests and generated tokens per LoRA adapter, fed by the pools' `adapter:generation` events:
 * `edgelm_adapter_requests_total{model, adapter, outcome}` (outcome `ok` or `error`) and
 * `edgelm_adapter_generated_tokens_total{model, adapter}`. A request applying several adapters counts for each.
 * The `adapter` label only takes names of adapters a model serves (the pool maps requests onto its list, at most 16
 * per model), so its cardinality is bounded by the configured and admin-added adapters; a removed adapter's series
 * stay until the gateway restarts. Requests that apply no adapter are not counted here (edgelm_requests_total has them).
 */
import { Counter } from "prom-client";
import type { AdapterGenerationEvent } from "../scheduler/gateway-events.js";
import type { MetricsRegistry } from "./metrics-registry.js";

export class AdapterMetrics {
  private readonly requests: Counter<"model" | "adapter" | "outcome">;
  private readonly tokens: Counter<"model" | "adapter">;

  constructor(registry: MetricsRegistry) {
    this.requests = new Counter({
      name: "edgelm_adapter_requests_total",
      help: "Generations that applied a LoRA adapter, by model, adapter and outcome (ok, error).",
      labelNames: ["model", "adapter", "outcome"] as const,
      registers: [registry.registry],
    });
    this.tokens = new Counter({
      name: "edgelm_adapter_generated_tokens_total",
      help: "Tokens generated with a LoRA adapter applied, by model and adapter.",
      labelNames: ["model", "adapter"] as const,
      registers: [registry.registry],
    });
  }

  /** Counts one generation for each adapter it applied. */
  generation(event: AdapterGenerationEvent): void {
    for (const adapter of new Set(event.adapters)) {
      this.requests.inc({ model: event.model, adapter, outcome: event.ok ? "ok" : "error" });
      if (event.completionTokens > 0) this.tokens.inc({ model: event.model, adapter }, event.completionTokens);
    }
  }
}
