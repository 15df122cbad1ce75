/** Delivers outbox records to the cloud's events endpoint over HTTP, one POST per event over a kept-alive connection. */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { EdgeError } from "../errors.js";
import { eventEnvelope, type DeliveryResult, type EventSink } from "./event-sink.js";
import type { OutboxRecord } from "./outbox.js";

export interface HttpEventSinkOptions {
  /** Sink name (cursor file, metrics label). Default "http". */
  name?: string;
  /** Full URL of the receiver, e.g. https://cloud.example.com/v1/events. */
  url: string;
  apiKey?: string;
  /** Per-attempt timeout in milliseconds. Default 10000. */
  timeoutMs?: number;
}

/**
 * POSTs `{id, seq, received_at, event}` with an `Idempotency-Key` header, the
 * events of a batch one after the other (so the receiver sees them in order).
 * 2xx and 409 (already have it) count as delivered; anything else stops the
 * batch there, to be retried. One kept-alive connection (node:http, several
 * times faster per request than fetch).
 */
export class HttpEventSink implements EventSink {
  readonly name: string;
  private readonly url: URL;
  private readonly agent: HttpAgent;

  constructor(private readonly options: HttpEventSinkOptions) {
    this.name = options.name ?? "http";
    this.url = new URL(options.url);
    this.agent = this.url.protocol === "https:" ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  async deliver(records: OutboxRecord[], signal: AbortSignal, progress: (delivered: number) => void): Promise<DeliveryResult> {
    let delivered = 0;
    try {
      for (const record of records) {
        await this.post(record, signal);
        progress(++delivered);
      }
      return { delivered };
    } catch (error) {
      return { delivered, error };
    }
  }

  private post(record: OutboxRecord, signal: AbortSignal): Promise<void> {
    const body = Buffer.from(JSON.stringify(eventEnvelope(record)));
    const send = this.url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise<void>((resolve, reject) => {
      const request = send(this.url, {
        method: "POST",
        agent: this.agent,
        signal,
        timeout: this.options.timeoutMs ?? 10_000,
        headers: {
          "content-type": "application/json",
          "content-length": body.length,
          "idempotency-key": record.id,
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
      }, (response: IncomingMessage) => {
        response.resume();
        response.once("error", reject);
        response.once("end", () => {
          const status = response.statusCode ?? 0;
          if ((status >= 200 && status < 300) || status === 409) resolve();
          else reject(new EdgeError("upstream_unavailable", `event receiver answered ${status}`));
        });
      });
      request.once("timeout", () => request.destroy(new EdgeError("timeout", `event receiver did not answer within ${this.options.timeoutMs ?? 10_000} ms`)));
      request.once("error", reject);
      request.end(body);
    });
  }
}
