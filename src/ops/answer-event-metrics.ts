/**
 * Metrics of events from answers (router.events.emit), read at each scrape:
 * `edgelm_answer_events_total{rule}` (events the outbox accepted) and
 * `edgelm_answer_events_failed_total{rule}` (matching answers whose event the
 * outbox refused: full, not running, disk error; logged, the client never sees it).
 */
import { Counter } from "prom-client";
import type { AnswerRuleStats } from "../router/answer-events.js";
import type { MetricsRegistry } from "./metrics-registry.js";

export class AnswerEventMetrics {
  constructor(metrics: MetricsRegistry, stats: () => AnswerRuleStats[]) {
    const registers = [metrics.registry];
    const perRule = (name: string, help: string, field: "emitted" | "failed"): void => {
      new Counter({
        name,
        help,
        labelNames: ["rule"] as const,
        registers,
        collect() {
          this.reset();
          for (const s of stats()) this.inc({ rule: s.rule }, s[field]);
        },
      });
    };
    perRule("edgelm_answer_events_total", "Events from local answers queued in the outbox, by router.events.emit rule.", "emitted");
    perRule("edgelm_answer_events_failed_total", "Matching answers whose event the outbox refused (full, stopped, disk error), by router.events.emit rule.", "failed");
  }
}
