/**
 * The outbox journal's write side: appends lines to the newest segment file
 * (`segment-<first seq>.jsonl`), opens a new segment once one reaches its size,
 * makes appends durable with one fdatasync for all that wait on it (group
 * commit), and deletes segments once every sink is past them. Appends run one
 * at a time, in order, through `serialize`.
 */
import { closeSync, fsyncSync, ftruncateSync, openSync, readdirSync, rmSync, statSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDirectory } from "../atomic-write.js";
import { toEdgeError } from "../errors.js";
import type { JournalSegment } from "./journal-reader.js";

const SEGMENT = /^segment-(\d+)\.jsonl$/;

/** The segment files in `dir`, oldest first. */
export function listJournalSegments(dir: string): JournalSegment[] {
  return readdirSync(dir)
    .map((name) => ({ name, match: SEGMENT.exec(name) }))
    .filter((x): x is { name: string; match: RegExpExecArray } => x.match !== null)
    .map(({ name, match }) => ({ name, first: Number(match[1]), bytes: statSync(join(dir, name)).size }))
    .sort((a, b) => a.first - b.first);
}

/** Cuts a segment back to `end` bytes (a line torn by a crash mid-append, never acknowledged), durably. */
export function truncateSegment(dir: string, segment: JournalSegment, end: number): void {
  const fd = openSync(join(dir, segment.name), "r+");
  try {
    ftruncateSync(fd, end);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  segment.bytes = end;
}

export class JournalWriter {
  private segment: { handle: FileHandle; first: number } | undefined;
  private chain: Promise<void> = Promise.resolve();
  private pendingSync: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private syncing = false;

  /** `segments`: those already on disk (listJournalSegments), oldest first; the list is kept current for readers. */
  constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    readonly segments: JournalSegment[],
  ) {}

  /** Bytes in all segments. */
  get bytes(): number {
    return this.segments.reduce((sum, s) => sum + s.bytes, 0);
  }

  /** Runs `write` after every earlier one; its failure rejects this call only, the next still runs. */
  serialize<T>(write: () => Promise<T>): Promise<T> {
    const done = this.chain.then(write);
    this.chain = done.then(
      () => {},
      () => {},
    );
    return done;
  }

  /** Appends one line whose first record is `seq` (call inside `serialize`). */
  async appendLine(line: Buffer, seq: number): Promise<void> {
    try {
      let current = this.segments.at(-1);
      if (!this.segment || !current || current.bytes >= this.segmentBytes) current = await this.rotate(seq);
      await this.segment!.handle.write(line, 0, line.length, current.bytes);
      current.bytes += line.length;
    } catch (error) {
      throw toEdgeError(error, "cannot write the outbox journal");
    }
  }

  /** Resolves once everything appended so far is on disk. */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pendingSync.push({ resolve, reject });
      if (!this.syncing) void this.runSync();
    });
  }

  /** Deletes segments whose every record has seq ≤ `delivered` (never the newest one). */
  removeUpTo(delivered: number): void {
    while (this.segments.length > 1 && this.segments[1]!.first - 1 <= delivered) {
      const [old] = this.segments.splice(0, 1);
      rmSync(join(this.dir, old!.name), { force: true });
    }
  }

  /** Waits for the appends under way and makes them durable, then closes the open segment. */
  async close(): Promise<void> {
    await this.chain;
    await this.sync().catch(() => {});
    await this.segment?.handle.close().catch(() => {});
    this.segment = undefined;
  }

  /** Opens the segment to append to: the newest one after a restart while it has room, else a new one. */
  private async rotate(firstSeq: number): Promise<JournalSegment> {
    await this.segment?.handle.sync();
    await this.segment?.handle.close();
    const existing = this.segments.at(-1);
    if (!this.segment && existing && existing.bytes < this.segmentBytes) {
      this.segment = { handle: await open(join(this.dir, existing.name), "r+"), first: existing.first };
      return existing;
    }
    const name = `segment-${String(firstSeq).padStart(12, "0")}.jsonl`;
    this.segment = { handle: await open(join(this.dir, name), "a+"), first: firstSeq };
    const created: JournalSegment = { name, first: firstSeq, bytes: 0 };
    this.segments.push(created);
    fsyncDirectory(this.dir);
    return created;
  }

  private async runSync(): Promise<void> {
    this.syncing = true;
    while (this.pendingSync.length > 0) {
      const waiting = this.pendingSync.splice(0);
      try {
        await this.chain;
        await this.segment?.handle.datasync();
        for (const w of waiting) w.resolve();
      } catch (error) {
        for (const w of waiting) w.reject(toEdgeError(error, "cannot sync the outbox journal"));
      }
    }
    this.syncing = false;
  }
}
