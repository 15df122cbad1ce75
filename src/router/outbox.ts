/**
 * A durable outbox for events bound for the cloud: appended to a journal on
 * disk (fsync'd before the sender is told "accepted"), forwarded in order, in
 * batches, with retries to each configured sink (HTTP, MQTT, NATS), and never
 * lost across a restart or a crash. Delivery is at-least-once per sink; every
 * event carries an id (the idempotency key) so a consumer can drop duplicates.
 *
 * Layout under `dir`: segment files `segment-<first seq>.jsonl` (one JSON record
 * per line) and one `cursor-<sink>.json` per sink (the last seq that sink
 * delivered, replaced atomically). A segment is deleted once every sink is past it.
 *
 * Bounded: the journal holds at most `maxBacklogBytes` of segments and
 * `maxBacklogEvents` undelivered events (counted for the slowest sink); past
 * either an append is refused with `outbox_full` (HTTP 507) and nothing already
 * accepted is ever dropped. Memory does not grow with the backlog: records are
 * streamed from disk in batches (see journal-reader.ts).
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { EdgeError, toEdgeError } from "../errors.js";
import type { EventSink } from "./event-sink.js";
import { JournalReader, forEachLine } from "./journal-reader.js";
import { JournalWriter, listJournalSegments, truncateSegment } from "./journal-writer.js";
import { readCursor, SinkCursor } from "./sink-cursor.js";

export interface OutboxRecord {
  seq: number;
  /** Idempotency key: the sender's, or a fresh UUID. */
  id: string;
  receivedAt: string;
  body: unknown;
}

/** Defaults of the outbox's limits (also the config schema's defaults). */
export const OUTBOX_DEFAULTS = {
  /** Journal bytes on disk (all segments not yet delivered by every sink): 256 MiB. */
  maxBacklogBytes: 256 * 1024 * 1024,
  /** Events not yet delivered by the slowest sink: 1,000,000. */
  maxBacklogEvents: 1_000_000,
  /** Events handed to a sink at once: 500. */
  batchEvents: 500,
  /** Journal bytes handed to a sink at once (at least one event): 1 MiB. */
  batchBytes: 1024 * 1024,
} as const;

export interface OutboxOptions {
  dir: string;
  /** Where events go; each sink has its own cursor and forwarder. At least one. */
  sinks: EventSink[];
  /** Start a new segment beyond this size in bytes. Default min(8 MiB, maxBacklogBytes / 16), at least 4 KiB. */
  segmentBytes?: number;
  /** Retry backoff in ms: first delay and cap. Defaults 500 and 30000. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** See {@link OUTBOX_DEFAULTS}. */
  maxBacklogBytes?: number;
  maxBacklogEvents?: number;
  batchEvents?: number;
  batchBytes?: number;
  /** Called after each delivery attempt of a batch to a sink (error: the part not delivered failed), for logs. */
  onAttempt?: (sink: string, records: OutboxRecord[], delivered: number, error: unknown | undefined) => void;
}

/** Counts of one sink, for metrics. */
export interface SinkStats {
  sink: string;
  /** Accepted events this sink has not delivered yet. */
  queued: number;
  /** Events delivered since start. */
  delivered: number;
  /** Events sent again after a failed attempt, since start. */
  retried: number;
  /** Last seq delivered. */
  cursor: number;
}

export interface OutboxStats {
  sinks: SinkStats[];
  /** Bytes of journal segments on disk. */
  journalBytes: number;
  /** Appends refused because the backlog was full, since start. */
  refused: number;
}

const SINK_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

interface SinkState {
  sink: EventSink;
  cursor: number;
  queued: number;
  delivered: number;
  retried: number;
  reader: JournalReader;
  wake: (() => void) | undefined;
  loop: Promise<void> | undefined;
  cursorFile: SinkCursor;
}

export class Outbox {
  private nextSeq = 1;
  /** Highest seq on disk and fsync'd: forwarders read up to here. */
  private durableSeq = 0;
  private journal: JournalWriter | undefined;
  private running = false;
  private refused = 0;
  private readonly stopController = new AbortController();
  private readonly states: SinkState[];
  private readonly segmentBytes: number;
  private readonly maxBacklogBytes: number;
  private readonly maxBacklogEvents: number;

  constructor(private readonly options: OutboxOptions) {
    if (options.sinks.length === 0) throw new EdgeError("invalid_config", "the outbox needs at least one sink", { param: "router.events.sinks" });
    const names = new Set<string>();
    for (const { name } of options.sinks) {
      if (!SINK_NAME.test(name)) throw new EdgeError("invalid_config", `sink name "${name}" must be 1-64 of a-z, 0-9, - and _`, { param: "router.events.sinks" });
      if (names.has(name)) throw new EdgeError("invalid_config", `two sinks are named "${name}"; give each a distinct name`, { param: "router.events.sinks" });
      names.add(name);
    }
    this.maxBacklogBytes = options.maxBacklogBytes ?? OUTBOX_DEFAULTS.maxBacklogBytes;
    this.maxBacklogEvents = options.maxBacklogEvents ?? OUTBOX_DEFAULTS.maxBacklogEvents;
    this.segmentBytes = options.segmentBytes ?? Math.max(4096, Math.min(8 * 1024 * 1024, Math.floor(this.maxBacklogBytes / 16)));
    this.states = options.sinks.map((sink) => ({
      sink,
      cursor: 0,
      queued: 0,
      delivered: 0,
      retried: 0,
      reader: undefined as unknown as JournalReader,
      wake: undefined,
      loop: undefined,
      cursorFile: new SinkCursor(options.dir, sink.name),
    }));
  }

  /** Events accepted but not yet delivered by the slowest sink. */
  get backlog(): number {
    return Math.max(0, ...this.states.map((s) => s.queued));
  }

  /** The last seq every sink has delivered. */
  get lastDeliveredSeq(): number {
    return Math.min(...this.states.map((s) => s.cursor));
  }

  /** Bytes of journal on disk. */
  get journalBytes(): number {
    return this.journal?.bytes ?? 0;
  }

  stats(): OutboxStats {
    return {
      sinks: this.states.map((s) => ({ sink: s.sink.name, queued: s.queued, delivered: s.delivered, retried: s.retried, cursor: s.cursor })),
      journalBytes: this.journalBytes,
      refused: this.refused,
    };
  }

  /**
   * Scans the journal (streaming, repairing a torn last line), then starts one
   * forwarder per sink.
   */
  async start(): Promise<void> {
    const { dir } = this.options;
    mkdirSync(dir, { recursive: true });
    const legacy = readCursor(dir, "cursor.json");
    for (const state of this.states) state.cursor = readCursor(dir, SinkCursor.fileName(state.sink.name)) ?? legacy ?? 0;
    const journal = (this.journal = new JournalWriter(dir, this.segmentBytes, listJournalSegments(dir)));
    let lastSeq = 0;
    for (const segment of journal.segments) {
      const path = join(dir, segment.name);
      let torn = false;
      const end = await forEachLine(path, (line) => {
        let seq: number;
        try {
          seq = (JSON.parse(line) as OutboxRecord).seq;
        } catch {
          torn = true;
          return false;
        }
        lastSeq = Math.max(lastSeq, seq);
        for (const state of this.states) if (seq > state.cursor) state.queued++;
        return true;
      });
      // A crash mid-append (never acknowledged): cut the partial line off.
      if (torn || end < segment.bytes) truncateSegment(dir, segment, end);
    }
    const delivered = Math.max(0, ...this.states.map((s) => s.cursor));
    this.nextSeq = Math.max(lastSeq, delivered) + 1;
    this.durableSeq = this.nextSeq - 1;
    journal.removeUpTo(this.lastDeliveredSeq);
    this.running = true;
    for (const state of this.states) {
      state.reader = new JournalReader(dir, () => journal.segments, state.cursor);
      state.loop = this.forwardLoop(state);
    }
  }

  /**
   * Appends an event durably. Resolves once it is on disk (fsync'd), with its record.
   * Concurrent appends share one fsync (group commit). Throws `outbox_full` when
   * the backlog is at its limit (nothing is written then).
   */
  async append(body: unknown, idempotencyKey?: string): Promise<OutboxRecord> {
    if (!this.running) throw new EdgeError("model_not_ready", "the outbox is not running");
    const id = idempotencyKey ?? randomUUID();
    const receivedAt = new Date().toISOString();
    const journal = this.journal!;
    const record = await journal.serialize(async (): Promise<OutboxRecord> => {
      const seq = this.nextSeq;
      const line = Buffer.from(`${JSON.stringify({ seq, id, receivedAt, body })}\n`);
      this.checkRoom(line.length);
      await journal.appendLine(line, seq);
      this.nextSeq++;
      for (const state of this.states) state.queued++;
      return { seq, id, receivedAt, body };
    });
    await journal.sync();
    this.durableSeq = Math.max(this.durableSeq, record.seq);
    for (const state of this.states) state.wake?.();
    return record;
  }

  /** Stops forwarding and closes the journal and the sinks (pending appends complete first). */
  async stop(): Promise<void> {
    this.running = false;
    this.stopController.abort();
    for (const state of this.states) state.wake?.();
    await Promise.all(this.states.map((s) => s.loop?.catch(() => {})));
    await Promise.all(this.states.map((s) => s.sink.close?.().catch(() => {})));
    await this.journal?.close();
    for (const state of this.states) state.cursorFile.close();
  }

  private checkRoom(lineBytes: number): void {
    const events = this.backlog;
    const bytes = this.journalBytes;
    if (events + 1 > this.maxBacklogEvents || bytes + lineBytes > this.maxBacklogBytes) {
      this.refused++;
      const which = events + 1 > this.maxBacklogEvents ? `${events} events (router.events.max_backlog_events)` : `${bytes} bytes (router.events.max_backlog_bytes)`;
      throw new EdgeError("outbox_full", `the event outbox is full: ${which} not yet delivered; retry once the sinks catch up`, {
        param: "router.events",
        retryAfter: 30,
        details: { backlog_events: events, journal_bytes: bytes, max_backlog_events: this.maxBacklogEvents, max_backlog_bytes: this.maxBacklogBytes },
      });
    }
  }

  /** One sink's forwarder: reads batches after its cursor, delivers them, moves the cursor. */
  private async forwardLoop(state: SinkState): Promise<void> {
    const base = this.options.retryBaseMs ?? 500;
    const maxDelay = this.options.retryMaxMs ?? 30_000;
    const batchEvents = this.options.batchEvents ?? OUTBOX_DEFAULTS.batchEvents;
    const batchBytes = this.options.batchBytes ?? OUTBOX_DEFAULTS.batchBytes;
    let delay = base;
    let pending: OutboxRecord[] = [];
    while (this.running) {
      if (pending.length === 0) {
        try {
          pending = await state.reader.next(this.durableSeq, batchEvents, batchBytes);
        } catch (error) {
          this.options.onAttempt?.(state.sink.name, [], 0, toEdgeError(error, "cannot read the outbox journal"));
          await this.pause(delay);
          delay = Math.min(maxDelay, delay * 2);
          continue;
        }
      }
      if (pending.length === 0) {
        await new Promise<void>((resolve) => (state.wake = resolve));
        state.wake = undefined;
        continue;
      }
      let delivered = 0;
      let failure: unknown;
      const batch = pending;
      const progress = (count: number): void => {
        // Acknowledged records move the cursor at once (written, fsync'd per batch below).
        const upTo = Math.min(batch.length, count);
        if (upTo <= delivered) return;
        this.moveCursor(state, batch[upTo - 1]!.seq, upTo - delivered);
        delivered = upTo;
      };
      try {
        const result = await state.sink.deliver(batch, this.stopController.signal, progress);
        progress(result.delivered);
        failure = result.error ?? (delivered < pending.length ? new Error(`sink took ${delivered} of ${pending.length} events`) : undefined);
      } catch (error) {
        failure = error;
      }
      this.options.onAttempt?.(state.sink.name, batch, delivered, failure);
      if (delivered > 0) {
        state.cursorFile.sync();
        this.journal!.removeUpTo(this.lastDeliveredSeq);
        pending = batch.slice(delivered);
      }
      if (failure === undefined) {
        delay = base;
        continue;
      }
      if (!this.running) return;
      state.retried += pending.length;
      await this.pause(delay);
      delay = Math.min(maxDelay, delay * 2);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const signal = this.stopController.signal;
      if (signal.aborted) return resolve();
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Moves the sink's cursor past `seq` (written at once; made durable per batch by its sync). */
  private moveCursor(state: SinkState, seq: number, count: number): void {
    state.cursorFile.write(seq);
    state.cursor = seq;
    state.queued = Math.max(0, state.queued - count);
    state.delivered += count;
  }
}
