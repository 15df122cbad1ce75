/**
 * The event outbox's metrics, read from Outbox.stats() at each scrape:
 * per sink `edgelm_events_queued`, `edgelm_events_delivered_total`,
 * `edgelm_events_retried_total`; and `edgelm_events_refused_total` (appends
 * refused at the backlog limit: the only way an event is not taken, never
 * dropped once accepted) and `edgelm_events_journal_bytes`.
 */
import { Counter, Gauge } from "prom-client";
import type { OutboxStats } from "../router/outbox.js";
import type { MetricsRegistry } from "./metrics-registry.js";

export class OutboxMetrics {
  constructor(metrics: MetricsRegistry, stats: () => OutboxStats) {
    const registers = [metrics.registry];
    const perSink = (name: string, help: string, type: "counter" | "gauge", field: "queued" | "delivered" | "retried"): void => {
      const common = { name, help, labelNames: ["sink"] as const, registers };
      if (type === "counter") {
        new Counter({
          ...common,
          collect() {
            this.reset();
            for (const s of stats().sinks) this.inc({ sink: s.sink }, s[field]);
          },
        });
      } else {
        new Gauge({
          ...common,
          collect() {
            this.reset();
            for (const s of stats().sinks) this.set({ sink: s.sink }, s[field]);
          },
        });
      }
    };
    perSink("edgelm_events_queued", "Events accepted by the outbox and not yet delivered, by sink.", "gauge", "queued");
    perSink("edgelm_events_delivered_total", "Events a sink acknowledged, by sink (since the gateway started).", "counter", "delivered");
    perSink("edgelm_events_retried_total", "Events offered to a sink again after a failed attempt, by sink.", "counter", "retried");
    new Counter({
      name: "edgelm_events_refused_total",
      help: "POST /v1/events refused with 507 because the outbox backlog was at router.events.max_backlog_events or max_backlog_bytes.",
      registers,
      collect() {
        this.reset();
        this.inc(stats().refused);
      },
    });
    new Gauge({
      name: "edgelm_events_journal_bytes",
      help: "Bytes of the outbox journal on disk (limit router.events.max_backlog_bytes).",
      registers,
      collect() {
        this.set(stats().journalBytes);
      },
    });
  }
}
