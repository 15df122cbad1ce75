/**
 * Writes a streamed HTTP response. Headers go out with the first piece (so an
 * error before any token can still be a proper status code). Pieces are
 * coalesced: everything written in one tick leaves in one socket write, and
 * pieces arriving within FLUSH_INTERVAL_MS of the last write wait for the
 * interval to end — a stream faster than ~500 tokens/s costs one write per
 * interval instead of one per token, while a first token, or a model at
 * edge-device speed (tens of tokens/s), is written the moment it arrives.
 */
import type { ServerResponse } from "node:http";

/** Shortest time between two socket writes of one stream, in ms. */
export const FLUSH_INTERVAL_MS = 2;

export abstract class StreamWriter {
  private opened = false;
  private pending = "";
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private lastFlush = -Infinity;

  constructor(
    protected readonly res: ServerResponse,
    private readonly headers: Record<string, string>,
  ) {
    // A client that went away makes writes fail; that is expected, not an error to report.
    res.on("error", () => {});
  }

  /** Whether the status line and headers are out (after that, errors go in-band). */
  get headersSent(): boolean {
    return this.opened || this.res.headersSent;
  }

  /** Whether the client can still receive anything. */
  get writable(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  protected write(text: string): void {
    if (!this.writable) return;
    this.open();
    this.pending += text;
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.lastFlush + FLUSH_INTERVAL_MS - performance.now();
    if (wait > 0) this.timer = setTimeout(() => this.flush(), wait);
    else process.nextTick(() => this.flush());
  }

  /** Ends the response with whatever is pending (sending the headers first if nothing was written). */
  end(): void {
    clearTimeout(this.timer);
    if (!this.writable) return;
    this.open();
    const rest = this.pending;
    this.pending = "";
    this.scheduled = false;
    this.res.end(rest.length > 0 ? rest : undefined);
  }

  private open(): void {
    if (this.opened) return;
    this.opened = true;
    this.res.writeHead(200, this.headers);
  }

  private flush(): void {
    this.scheduled = false;
    this.timer = undefined;
    if (this.pending.length === 0 || !this.writable) return;
    const text = this.pending;
    this.pending = "";
    this.lastFlush = performance.now();
    this.res.write(text);
  }
}
