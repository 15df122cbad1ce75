/**
 * Where alerts go. An alert is identified by its name and labels; a sink gets
 * each notice (firing, re-sent while firing, or resolved) and delivers it.
 */

export type AlertSeverity = "info" | "warning" | "critical";

export interface AlertNotice {
  /** `alertname`, e.g. "edgelm_memory_high". */
  name: string;
  status: "firing" | "resolved";
  severity: AlertSeverity;
  summary: string;
  description?: string;
  /** Extra identifying labels (rule, metric, model, instance...). */
  labels: Record<string, string>;
  /** The reading that fired it, when there is one. */
  value?: number;
  startsAt: Date;
  /** Resolved: when it cleared. Firing: when a receiver may consider it stale if not re-sent. */
  endsAt: Date;
}

export interface AlertSink {
  /** For logs and metrics, e.g. "alertmanager http://127.0.0.1:9093". */
  readonly name: string;
  /** Delivers notices; rejects with an EdgeError when the receiver cannot be reached or refuses them. */
  send(notices: AlertNotice[]): Promise<void>;
}
