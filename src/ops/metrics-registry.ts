/**
 * The gateway's Prometheus registry (prom-client). Each area registers its own
 * metrics here (request-metrics, resource-metrics, the policy engine); `/metrics`
 * renders it. One registry per gateway, so tests and embedders never share
 * prom-client's global one.
 */
import { Registry } from "prom-client";
import { registerProcessMetrics } from "./process-metrics.js";

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

export interface MetricsRegistryOptions {
  /** Add the gateway process's own metrics (process_cpu_seconds_total, process_resident_memory_bytes, ...). Default true. */
  processMetrics?: boolean;
}

export class MetricsRegistry {
  readonly registry = new Registry();

  constructor(options: MetricsRegistryOptions = {}) {
    if (options.processMetrics ?? true) registerProcessMetrics(this.registry);
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
