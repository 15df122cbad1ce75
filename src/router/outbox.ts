/**
 * A durable outbox for events bound for the cloud: appended to a journal on
 * disk (fsync'd before the sender is told "accepted"), forwarded in order with
 * retries when the cloud is reachable, and never lost across a restart or a
 * crash. Delivery is at-least-once; every event carries an idempotency key
 * (sent as `Idempotency-Key`) so the receiver can drop duplicates.
 *
 * Layout under `dir`: segment files `segment-<first seq>.jsonl` (one JSON record
 * per line) and `cursor.json` (the last delivered seq, replaced atomically).
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, openSync, closeSync, fsyncSync, ftruncateSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { EdgeError, toEdgeError } from "../errors.js";

export interface OutboxRecord {
  seq: number;
  /** Idempotency key: the sender's, or a fresh UUID. */
  id: string;
  receivedAt: string;
  body: unknown;
}

export interface OutboxOptions {
  dir: string;
  /** Delivers one record; resolves on success, throws to retry later. */
  deliver: (record: OutboxRecord, signal: AbortSignal) => Promise<void>;
  /** Start a new segment beyond this size in bytes. Default 8 MiB. */
  segmentBytes?: number;
  /** Retry backoff in ms: first delay and cap. Defaults 500 and 30000. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Called after each delivery attempt, for logs and metrics. */
  onAttempt?: (record: OutboxRecord, error: unknown | undefined) => void;
}

const SEGMENT = /^segment-(\d+)\.jsonl$/;

export class Outbox {
  private nextSeq = 1;
  private delivered = 0;
  private queue: OutboxRecord[] = [];
  private segment: { handle: FileHandle; first: number; bytes: number } | undefined;
  private pendingSync: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private syncing = false;
  private writeChain: Promise<void> = Promise.resolve();
  private running = false;
  private wake: (() => void) | undefined;
  private readonly stopController = new AbortController();
  private forwarder: Promise<void> | undefined;
  private readonly segmentBytes: number;

  constructor(private readonly options: OutboxOptions) {
    this.segmentBytes = options.segmentBytes ?? 8 * 1024 * 1024;
  }

  /** Events accepted but not yet delivered. */
  get backlog(): number {
    return this.queue.length;
  }

  get lastDeliveredSeq(): number {
    return this.delivered;
  }

  /** Reads the journal (repairing a torn last line) and starts forwarding. */
  async start(): Promise<void> {
    mkdirSync(this.options.dir, { recursive: true });
    this.delivered = this.readCursor();
    const segments = this.segments();
    for (const { name } of segments) {
      for (const record of this.readSegment(join(this.options.dir, name))) {
        this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
        if (record.seq > this.delivered) this.queue.push(record);
      }
    }
    this.nextSeq = Math.max(this.nextSeq, this.delivered + 1);
    this.removeDeliveredSegments();
    this.running = true;
    this.forwarder = this.forwardLoop();
  }

  /**
   * Appends an event durably. Resolves once it is on disk (fsync'd), with its record.
   * Concurrent appends share one fsync (group commit).
   */
  async append(body: unknown, idempotencyKey?: string): Promise<OutboxRecord> {
    if (!this.running) throw new EdgeError("model_not_ready", "the outbox is not running");
    const record: OutboxRecord = { seq: this.nextSeq++, id: idempotencyKey ?? randomUUID(), receivedAt: new Date().toISOString(), body };
    const line = `${JSON.stringify(record)}\n`;
    const written = (this.writeChain = this.writeChain.then(() => this.writeLine(line, record.seq)));
    await written;
    await this.sync();
    this.queue.push(record);
    this.wake?.();
    return record;
  }

  /** Stops forwarding and closes the journal (pending appends complete first). */
  async stop(): Promise<void> {
    this.running = false;
    this.stopController.abort();
    this.wake?.();
    await this.writeChain.catch(() => {});
    await this.forwarder?.catch(() => {});
    await this.segment?.handle.close().catch(() => {});
    this.segment = undefined;
  }

  private async writeLine(line: string, seq: number): Promise<void> {
    try {
      if (!this.segment || this.segment.bytes >= this.segmentBytes) await this.rotate(seq);
      const bytes = Buffer.from(line);
      await this.segment!.handle.write(bytes, 0, bytes.length, this.segment!.bytes);
      this.segment!.bytes += bytes.length;
    } catch (error) {
      throw toEdgeError(error, "cannot write the outbox journal");
    }
  }

  private async rotate(firstSeq: number): Promise<void> {
    await this.segment?.handle.sync();
    await this.segment?.handle.close();
    const existing = this.segments().at(-1);
    // Reuse the newest segment after a restart while it has room; else start a new one.
    if (!this.segment && existing && existing.bytes < this.segmentBytes) {
      const handle = await open(join(this.options.dir, existing.name), "r+");
      this.segment = { handle, first: existing.first, bytes: existing.bytes };
      return;
    }
    const handle = await open(join(this.options.dir, `segment-${String(firstSeq).padStart(12, "0")}.jsonl`), "a+");
    this.segment = { handle, first: firstSeq, bytes: 0 };
    this.syncDirectory();
  }

  /** One fsync for all appends waiting on it. */
  private sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pendingSync.push({ resolve, reject });
      if (!this.syncing) void this.runSync();
    });
  }

  private async runSync(): Promise<void> {
    this.syncing = true;
    while (this.pendingSync.length > 0) {
      const waiting = this.pendingSync.splice(0);
      try {
        await this.writeChain;
        await this.segment?.handle.datasync();
        for (const w of waiting) w.resolve();
      } catch (error) {
        for (const w of waiting) w.reject(toEdgeError(error, "cannot sync the outbox journal"));
      }
    }
    this.syncing = false;
  }

  private async forwardLoop(): Promise<void> {
    let delay = this.options.retryBaseMs ?? 500;
    const maxDelay = this.options.retryMaxMs ?? 30_000;
    while (this.running) {
      const record = this.queue[0];
      if (!record) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      try {
        await this.options.deliver(record, this.stopController.signal);
        this.options.onAttempt?.(record, undefined);
        this.queue.shift();
        this.writeCursor(record.seq);
        delay = this.options.retryBaseMs ?? 500;
      } catch (error) {
        this.options.onAttempt?.(record, error);
        if (!this.running) return;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.stopController.signal.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          }, { once: true });
        });
        delay = Math.min(maxDelay, delay * 2);
      }
    }
  }

  private readCursor(): number {
    try {
      const value = JSON.parse(readFileSync(join(this.options.dir, "cursor.json"), "utf8")) as { delivered?: unknown };
      return typeof value.delivered === "number" && Number.isInteger(value.delivered) ? value.delivered : 0;
    } catch {
      return 0;
    }
  }

  private writeCursor(seq: number): void {
    this.delivered = seq;
    const path = join(this.options.dir, "cursor.json");
    const temp = `${path}.tmp`;
    const fd = openSync(temp, "w");
    try {
      writeFileSync(fd, JSON.stringify({ delivered: seq }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    if (this.segment && seq >= this.nextSeq - 1) this.removeDeliveredSegments();
  }

  private segments(): Array<{ name: string; first: number; bytes: number }> {
    return readdirSync(this.options.dir)
      .map((name) => ({ name, match: SEGMENT.exec(name) }))
      .filter((x): x is { name: string; match: RegExpExecArray } => x.match !== null)
      .map(({ name, match }) => ({ name, first: Number(match[1]), bytes: statSync(join(this.options.dir, name)).size }))
      .sort((a, b) => a.first - b.first);
  }

  /** Parses a segment; a torn last line (crash mid-append, never acknowledged) is cut off. */
  private readSegment(path: string): OutboxRecord[] {
    const text = readFileSync(path, "utf8");
    const records: OutboxRecord[] = [];
    let offset = 0;
    for (const line of text.split("\n")) {
      const end = offset + Buffer.byteLength(line) + 1;
      if (line.length > 0) {
        try {
          records.push(JSON.parse(line) as OutboxRecord);
        } catch {
          const fd = openSync(path, "r+");
          try {
            ftruncateSync(fd, offset);
            fsyncSync(fd);
          } finally {
            closeSync(fd);
          }
          break;
        }
      }
      offset = end;
    }
    return records;
  }

  /** Deletes segments whose every record is delivered (never the one being written). */
  private removeDeliveredSegments(): void {
    const segments = this.segments();
    for (let i = 0; i < segments.length - 1; i++) {
      const nextFirst = segments[i + 1]!.first;
      if (nextFirst - 1 <= this.delivered && segments[i]!.first !== this.segment?.first) {
        rmSync(join(this.options.dir, segments[i]!.name), { force: true });
      }
    }
  }

  private syncDirectory(): void {
    try {
      const fd = openSync(this.options.dir, "r");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      // directories cannot be fsync'd on every platform
    }
  }
}
