/**
 * Metrics of signed commands (router.events.commands), read at each scrape:
 * `edgelm_commands_total{op,result}` (commands run: ok or failed) and
 * `edgelm_commands_refused_total{reason}` (unsigned, bad_signature,
 * unknown_key, replayed, stale, malformed, wrong_gateway, op_not_allowed, too_large).
 */
import { Counter } from "prom-client";
import type { CommandStats } from "./mqtt-command-channel.js";
import type { MetricsRegistry } from "./metrics-registry.js";

export class CommandMetrics {
  constructor(metrics: MetricsRegistry, stats: () => CommandStats) {
    const registers = [metrics.registry];
    new Counter({
      name: "edgelm_commands_total",
      help: "Signed commands run from router.events.commands, by op and result (ok, failed).",
      labelNames: ["op", "result"] as const,
      registers,
      collect() {
        this.reset();
        for (const r of stats().ran) this.inc({ op: r.op, result: r.result }, r.count);
      },
    });
    new Counter({
      name: "edgelm_commands_refused_total",
      help: "Commands refused before running, by reason (unsigned, bad_signature, unknown_key, replayed, stale, malformed, wrong_gateway, op_not_allowed, too_large).",
      labelNames: ["reason"] as const,
      registers,
      collect() {
        this.reset();
        for (const r of stats().refused) this.inc({ reason: r.reason }, r.count);
      },
    });
  }
}
