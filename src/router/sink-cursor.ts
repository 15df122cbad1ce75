/**
 * One sink's cursor file in the outbox folder, `cursor-<sink>.json`: the last
 * journal seq that sink delivered. It is one fixed-size record written in place
 * at offset 0, so a process crash leaves either the old or the new value (the
 * page cache keeps it across kill -9); `sync` makes it survive power loss too.
 */
import { closeSync, fdatasyncSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fsyncDirectory } from "../atomic-write.js";

/** Size of a cursor file: `{"delivered":N}` padded with spaces and a newline. */
const CURSOR_BYTES = 40;

/** The seq a cursor file in `dir` holds, or undefined when it is missing or unreadable (`file` defaults to the sink's). */
export function readCursor(dir: string, file: string): number | undefined {
  try {
    const value = JSON.parse(readFileSync(join(dir, file), "utf8")) as { delivered?: unknown };
    return typeof value.delivered === "number" && Number.isInteger(value.delivered) ? value.delivered : undefined;
  } catch {
    return undefined;
  }
}

export class SinkCursor {
  private fd: number | undefined;

  constructor(
    private readonly dir: string,
    readonly sink: string,
  ) {}

  /** The cursor file's name for `sink`. */
  static fileName(sink: string): string {
    return `cursor-${sink}.json`;
  }

  /** Writes `seq` in place (opening, and creating, the file on first use). */
  write(seq: number): void {
    this.fd ??= this.open();
    const text = Buffer.from(JSON.stringify({ delivered: seq }).padEnd(CURSOR_BYTES - 1, " ") + "\n");
    writeSync(this.fd, text, 0, text.length, 0);
  }

  /** Makes the last write durable (fdatasync); nothing to do before the first. */
  sync(): void {
    if (this.fd !== undefined) fdatasyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): number {
    const path = join(this.dir, SinkCursor.fileName(this.sink));
    closeSync(openSync(path, "a+"));
    const fd = openSync(path, "r+");
    ftruncateSync(fd, CURSOR_BYTES);
    fsyncDirectory(this.dir);
    return fd;
  }
}
