/**
 * Delivers alerts to Prometheus Alertmanager through its v2 API
 * (`POST /api/v2/alerts`, a JSON array of postable alerts). A firing alert
 * carries an endsAt in the future (re-sent before then while it fires, as
 * Prometheus does); a resolved one carries the time it cleared.
 */
import { EdgeError } from "../errors.js";
import type { AlertNotice, AlertSink } from "./alert-sink.js";
import { postJson } from "./post-json.js";

export class AlertmanagerSink implements AlertSink {
  readonly name: string;
  private readonly endpoint: string;

  /**
   * @param baseUrl Alertmanager's base URL, e.g. http://127.0.0.1:9093 (a path prefix is kept).
   * @param timeoutMs per request. Default 5000.
   * @param generatorUrl link shown in Alertmanager for the source (e.g. the gateway's /admin/policies).
   */
  constructor(
    baseUrl: string,
    private readonly timeoutMs = 5000,
    private readonly generatorUrl?: string,
  ) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new EdgeError("invalid_config", `alertmanager URL "${baseUrl}" is not a URL`, { param: "policies.alerts.alertmanager" });
    }
    this.endpoint = `${url.origin}${url.pathname.replace(/\/+$/, "")}/api/v2/alerts`;
    this.name = `alertmanager ${url.origin}${url.pathname.replace(/\/+$/, "")}`;
  }

  async send(notices: AlertNotice[]): Promise<void> {
    if (notices.length === 0) return;
    const body = notices.map((n) => ({
      labels: { alertname: n.name, severity: n.severity, ...n.labels },
      annotations: {
        summary: n.summary,
        ...(n.description !== undefined ? { description: n.description } : {}),
        ...(n.value !== undefined ? { value: String(n.value) } : {}),
      },
      startsAt: n.startsAt.toISOString(),
      endsAt: n.endsAt.toISOString(),
      ...(this.generatorUrl ? { generatorURL: this.generatorUrl } : {}),
    }));
    await postJson(this.endpoint, body, { timeoutMs: this.timeoutMs, what: this.name });
  }
}
