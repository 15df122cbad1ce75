/** Delivers outbox records to the cloud's events endpoint over HTTP. */
import { EdgeError } from "../errors.js";
import type { OutboxRecord } from "./outbox.js";

export interface EventDeliveryOptions {
  /** Full URL of the receiver, e.g. https://cloud.example.com/v1/events. */
  url: string;
  apiKey?: string;
  /** Per-attempt timeout in milliseconds. Default 10000. */
  timeoutMs?: number;
}

/**
 * POSTs `{id, seq, received_at, event}` with an `Idempotency-Key` header.
 * 2xx and 409 (already have it) count as delivered; anything else is retried.
 */
export function httpEventDelivery(options: EventDeliveryOptions): (record: OutboxRecord, signal: AbortSignal) => Promise<void> {
  return async (record, signal) => {
    const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000);
    const response = await fetch(options.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "idempotency-key": record.id,
        ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
      },
      body: JSON.stringify({ id: record.id, seq: record.seq, received_at: record.receivedAt, event: record.body }),
      signal: AbortSignal.any([signal, timeout]),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok && response.status !== 409) {
      throw new EdgeError("upstream_unavailable", `event receiver answered ${response.status}`);
    }
  };
}
