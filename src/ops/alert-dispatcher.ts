/**
 * Keeps the set of firing alerts and tells every sink about changes: a new
 * alert is sent at once, firing ones are re-sent every `resendMs` (Alertmanager
 * resolves alerts it stops hearing about), and a resolved one is sent with its
 * end time — retried at the next re-send if a sink could not be reached.
 * Deliveries never throw into the caller: failures are logged and counted.
 */
import { Counter } from "prom-client";
import { logger } from "../log.js";
import type { AlertNotice, AlertSeverity, AlertSink } from "./alert-sink.js";
import type { MetricsRegistry } from "./metrics-registry.js";

export interface AlertInput {
  name: string;
  severity?: AlertSeverity;
  summary: string;
  description?: string;
  labels?: Record<string, string>;
  value?: number;
}

export interface AlertDispatcherOptions {
  /** Re-send firing alerts this often, in ms. Default 60000. */
  resendMs?: number;
  /** Labels added to every alert (e.g. instance). */
  labels?: Record<string, string>;
  metrics?: MetricsRegistry;
  /** Times a resolved notice is retried before it is dropped. Default 5. */
  resolveRetries?: number;
}

interface Pending {
  notice: AlertNotice;
  /** Sinks that still need it. */
  sinks: Set<AlertSink>;
  attempts: number;
}

/** Stable identity of an alert: its name and labels. */
export function alertKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`);
  return [name, ...parts].join("\u0000");
}

export class AlertDispatcher {
  private readonly firing = new Map<string, AlertNotice>();
  private readonly unresolved: Pending[] = [];
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly resendMs: number;
  private readonly sent: Counter<"sink" | "status" | "result"> | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    readonly sinks: AlertSink[],
    private readonly options: AlertDispatcherOptions = {},
  ) {
    this.resendMs = options.resendMs ?? 60_000;
    if (options.metrics) {
      this.sent = new Counter({
        name: "edgelm_alert_notifications_total",
        help: "Alert notices delivered to sinks, by sink, alert status (firing, resolved) and result (ok, error).",
        labelNames: ["sink", "status", "result"],
        registers: [options.metrics.registry],
      });
    }
    if (sinks.length > 0) {
      this.timer = setInterval(() => void this.resend(), this.resendMs);
      this.timer.unref();
    }
  }

  /** Alerts firing now. */
  active(): AlertNotice[] {
    return [...this.firing.values()];
  }

  /**
   * Fires an alert (or refreshes one already firing: new value and text, same start).
   * Resolves once the sinks were tried; returns false when it was already firing.
   */
  async fire(input: AlertInput): Promise<boolean> {
    const labels = { ...this.options.labels, ...input.labels };
    const key = alertKey(input.name, labels);
    const existing = this.firing.get(key);
    const now = new Date();
    const notice: AlertNotice = {
      name: input.name,
      status: "firing",
      severity: input.severity ?? existing?.severity ?? "warning",
      summary: input.summary,
      ...(input.description !== undefined ? { description: input.description } : {}),
      labels,
      ...(input.value !== undefined ? { value: input.value } : {}),
      startsAt: existing?.startsAt ?? now,
      endsAt: this.staleAfter(now),
    };
    this.firing.set(key, notice);
    if (existing) return false;
    logger.warn(`alert firing: ${notice.name}: ${notice.summary}`, { alert: notice.name, severity: notice.severity, labels });
    await this.deliver([notice], this.sinks);
    return true;
  }

  /** Resolves a firing alert (same name and labels as fired); false when none was firing. */
  async resolve(name: string, labels: Record<string, string> = {}): Promise<boolean> {
    const key = alertKey(name, { ...this.options.labels, ...labels });
    const notice = this.firing.get(key);
    if (!notice) return false;
    this.firing.delete(key);
    const resolved: AlertNotice = { ...notice, status: "resolved", endsAt: new Date() };
    logger.info(`alert resolved: ${name}`, { alert: name, labels: resolved.labels });
    const failed = await this.deliver([resolved], this.sinks);
    if (failed.length > 0) this.unresolved.push({ notice: resolved, sinks: new Set(failed), attempts: 1 });
    return true;
  }

  /** Re-sends firing alerts (with a fresh endsAt) and retries undelivered resolutions. */
  async resend(): Promise<void> {
    const now = new Date();
    const firing = [...this.firing.values()].map((n) => {
      n.endsAt = this.staleAfter(now);
      return n;
    });
    if (firing.length > 0) await this.deliver(firing, this.sinks);
    const retries = this.unresolved.splice(0);
    for (const pending of retries) {
      const failed = await this.deliver([pending.notice], [...pending.sinks]);
      if (failed.length > 0 && pending.attempts < (this.options.resolveRetries ?? 5)) {
        this.unresolved.push({ notice: pending.notice, sinks: new Set(failed), attempts: pending.attempts + 1 });
      }
    }
  }

  /** Stops re-sending and waits for deliveries under way. Firing alerts are left to expire at their endsAt. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.inFlight]);
  }

  /** A receiver considers a firing alert stale after four missed re-sends (as Prometheus does). */
  private staleAfter(now: Date): Date {
    return new Date(now.getTime() + 4 * this.resendMs);
  }

  /** Sends to each sink; returns the sinks that failed. */
  private async deliver(notices: AlertNotice[], sinks: AlertSink[]): Promise<AlertSink[]> {
    const failed: AlertSink[] = [];
    const work = Promise.all(
      sinks.map(async (sink) => {
        try {
          await sink.send(notices);
          for (const n of notices) this.sent?.inc({ sink: sink.name, status: n.status, result: "ok" });
        } catch (error) {
          failed.push(sink);
          for (const n of notices) this.sent?.inc({ sink: sink.name, status: n.status, result: "error" });
          logger.warn(`alert delivery failed: ${(error as Error).message}`, { sink: sink.name, alerts: notices.map((n) => n.name) });
        }
      }),
    ).then(() => undefined);
    this.inFlight.add(work);
    try {
      await work;
    } finally {
      this.inFlight.delete(work);
    }
    return failed;
  }
}
