/** Where the outbox sends events: one interface for every transport (HTTP, MQTT, NATS JetStream). */
import type { OutboxRecord } from "./outbox.js";

/** What a sink did with a batch: the first `delivered` records are acknowledged; `error` says why the rest were not. */
export interface DeliveryResult {
  delivered: number;
  error?: unknown;
}

/**
 * A destination of the outbox. `deliver` gets records in journal order and
 * must acknowledge them in that order (a prefix); records after `delivered`
 * are offered again later, so a sink may see a record more than once and the
 * record's `id` is what lets the consumer drop the duplicate.
 */
export interface EventSink {
  /** Unique per outbox: names the sink's cursor file and its metrics label (a-z, 0-9, -, _). */
  readonly name: string;
  /**
   * Sends `records` in order. `progress(n)` may be called as acknowledgements
   * arrive (n: how many of the batch, from its start, are acknowledged so far),
   * so a crash mid-batch re-sends as little as possible.
   */
  deliver(records: OutboxRecord[], signal: AbortSignal, progress: (delivered: number) => void): Promise<DeliveryResult>;
  /** Releases connections; called by Outbox.stop(). */
  close?(): Promise<void>;
}

/** The wire form of one event, the same on every sink. */
export function eventEnvelope(record: OutboxRecord): { id: string; seq: number; received_at: string; event: unknown } {
  return { id: record.id, seq: record.seq, received_at: record.receivedAt, event: record.body };
}
