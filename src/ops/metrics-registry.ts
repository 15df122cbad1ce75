/**
 * The gateway's Prometheus registry (prom-client). Each area registers its own
 * metrics here (request-metrics, resource-metrics, the policy engine); `/metrics`
 * renders it. One registry per gateway, so tests and embedders never share
 * prom-client's global one.
 */
import { collectDefaultMetrics, Registry } from "prom-client";

/** Histogram buckets, in seconds, shared by the request metrics, the docs and the alert rules. */
export const BUCKETS = {
  /** Time to first token: fine below a second, with 0.2 for the seed's 200 ms rule. */
  ttft: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 30],
  /** Time between generated tokens. */
  interToken: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2.5],
  /** Whole request, arrival to last byte. */
  request: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  /** Time waiting for a free sequence. */
  queueWait: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  /** Loading a model into a runner process. */
  modelLoad: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
} as const;

/** prom-client default metrics that are gauges named like counters. */
const MISNAMED_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

export interface MetricsRegistryOptions {
  /** Add Node's process metrics (process_cpu_seconds_total, nodejs_eventloop_lag_seconds, ...). Default true. */
  processMetrics?: boolean;
}

export class MetricsRegistry {
  readonly registry = new Registry();

  constructor(options: MetricsRegistryOptions = {}) {
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges whose names end in _total break Prometheus naming rules (promtool check metrics flags them).
      for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(name);
    }
  }

  /** The Content-Type of {@link render}'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in the Prometheus text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
