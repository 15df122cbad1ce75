/**
 * Writes a streamed HTTP response: headers go out with the first piece (so an
 * error before any token can still be a proper status code), and pieces
 * written in the same tick leave in one socket write (cork until the tick ends).
 */
import type { ServerResponse } from "node:http";

export abstract class StreamWriter {
  private opened = false;
  private corked = false;

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
    if (!this.opened) {
      this.opened = true;
      this.res.writeHead(200, this.headers);
    }
    if (!this.corked) {
      this.corked = true;
      this.res.cork();
      process.nextTick(() => {
        this.corked = false;
        this.res.uncork();
      });
    }
    this.res.write(text);
  }

  /** Ends the response (sending the headers first if nothing was written). */
  end(): void {
    if (!this.writable) return;
    if (!this.opened) {
      this.opened = true;
      this.res.writeHead(200, this.headers);
    }
    this.res.end();
  }
}
