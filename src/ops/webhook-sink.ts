/**
 * Delivers each alert notice as one JSON object POSTed to a URL, for chat
 * bridges, paging services and home-made receivers:
 *
 *   { "version": 1, "source": "edgelm", "status": "firing" | "resolved",
 *     "alert": { name, severity, summary, description?, labels, value?, startsAt, endsAt } }
 */
import { EdgeError } from "../errors.js";
import type { AlertNotice, AlertSink } from "./alert-sink.js";
import { postJson } from "./post-json.js";

export class WebhookSink implements AlertSink {
  readonly name: string;

  /**
   * @param url where to POST.
   * @param headers sent with each request (e.g. Authorization).
   * @param timeoutMs per request. Default 5000.
   */
  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string> = {},
    private readonly timeoutMs = 5000,
  ) {
    try {
      this.name = `webhook ${new URL(url).origin}`;
    } catch {
      throw new EdgeError("invalid_config", `webhook URL "${url}" is not a URL`, { param: "policies.alerts.webhooks" });
    }
  }

  async send(notices: AlertNotice[]): Promise<void> {
    for (const n of notices) {
      const alert = {
        name: n.name,
        severity: n.severity,
        summary: n.summary,
        ...(n.description !== undefined ? { description: n.description } : {}),
        labels: n.labels,
        ...(n.value !== undefined ? { value: n.value } : {}),
        startsAt: n.startsAt.toISOString(),
        endsAt: n.endsAt.toISOString(),
      };
      await postJson(this.url, { version: 1, source: "edgelm", status: n.status, alert }, { timeoutMs: this.timeoutMs, headers: this.headers, what: this.name });
    }
  }
}
