/**
 * Reads the outbox journal (segment files of one JSON record per line) in
 * bounded chunks, never a whole segment at once: the memory it holds is one
 * chunk plus the records it returns, whatever the size of the backlog.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { OutboxRecord } from "./outbox.js";

/** Bytes read from disk per step. Grows (doubling) only for a line longer than this. */
const CHUNK_BYTES = 256 * 1024;

/** A segment file of the journal: its name, the seq of its first record and its size in bytes. */
export interface JournalSegment {
  name: string;
  first: number;
  bytes: number;
}

/**
 * Calls `onLine` for every complete line of a file from byte `from`, in order,
 * with the byte offset just past it; stops early when `onLine` returns false.
 * Resolves with the offset after the last line accepted (a trailing fragment
 * without a newline is not a line).
 */
export async function forEachLine(path: string, onLine: (line: string, end: number) => boolean, from = 0): Promise<number> {
  const handle = await open(path, "r");
  try {
    let offset = from;
    let size = CHUNK_BYTES;
    for (;;) {
      const buffer = Buffer.allocUnsafe(size);
      const { bytesRead } = await handle.read(buffer, 0, size, offset);
      if (bytesRead === 0) return offset;
      let start = 0;
      for (let nl = buffer.indexOf(10, 0); nl !== -1 && nl < bytesRead; nl = buffer.indexOf(10, start)) {
        const line = buffer.toString("utf8", start, nl);
        if (!onLine(line, offset + nl + 1)) return offset + start;
        start = nl + 1;
      }
      if (start === 0) {
        if (bytesRead < size) return offset; // a fragment at the end of the file
        size *= 2; // one line longer than the chunk
        continue;
      }
      offset += start;
      size = CHUNK_BYTES;
    }
  } finally {
    await handle.close();
  }
}

/**
 * A position in the journal that moves forward: `next()` returns the records
 * after it, in order, up to a seq the caller knows to be durable.
 */
export class JournalReader {
  private segment: { first: number; path: string; offset: number } | undefined;

  /**
   * @param dir the outbox directory
   * @param segments the journal's segments now (called again at the end of one, to find the next)
   * @param after seq of the last record already consumed
   */
  constructor(
    private readonly dir: string,
    private readonly segments: () => readonly JournalSegment[],
    private after: number,
  ) {}

  /**
   * Up to `maxEvents` records (and about `maxBytes` of journal; always at least
   * one) with seq in (after, upTo]. Empty when none is there yet.
   */
  async next(upTo: number, maxEvents: number, maxBytes: number): Promise<OutboxRecord[]> {
    const records: OutboxRecord[] = [];
    let bytes = 0;
    while (records.length < maxEvents && bytes < maxBytes && this.after < upTo) {
      if (!this.segment && !this.openSegment()) break;
      const segment = this.segment!;
      let reachedEnd = true;
      let end: number;
      try {
        end = await forEachLine(
        segment.path,
        (line, lineEnd) => {
          const record = JSON.parse(line) as OutboxRecord;
          if (record.seq <= this.after) {
            segment.offset = lineEnd;
            return true;
          }
          if (record.seq > upTo || records.length >= maxEvents || bytes >= maxBytes) {
            reachedEnd = false;
            return false;
          }
          records.push(record);
          bytes += line.length + 1;
          this.after = record.seq;
          segment.offset = lineEnd;
          return true;
        },
        segment.offset,
        );
      } catch (error) {
        // Every sink got past this segment and it was deleted: go on with the next one.
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        this.segment = undefined;
        if (!this.segments().some((s) => s.first > segment.first)) break;
        continue;
      }
      if (!reachedEnd) break;
      segment.offset = end;
      // At the end of this segment: move on only when a later one exists (then this one is complete).
      const later = this.segments().find((s) => s.first > segment.first);
      if (!later) break;
      this.segment = undefined;
    }
    return records;
  }

  /** Opens the segment holding the record after `after`. */
  private openSegment(): boolean {
    const candidates = this.segments();
    let chosen: JournalSegment | undefined;
    for (const s of candidates) if (s.first <= this.after + 1) chosen = s;
    chosen ??= candidates[0];
    if (!chosen) return false;
    this.segment = { first: chosen.first, path: join(this.dir, chosen.name), offset: 0 };
    return true;
  }
}
