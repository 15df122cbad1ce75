/**
 * One status line on a terminal (stderr) while a long step runs — "loading
 * stories:260k (node-llama-cpp)…" — erased when the step ends, so the output
 * that follows starts on a clean line. A step that ends within `delayMs` shows
 * nothing; nothing is ever written when the stream is not a TTY or the
 * command prints JSON.
 */
export class StatusLine {
  private timer: NodeJS.Timeout | undefined;
  private shown = false;

  /**
   * @param enabled draw at all (e.g. `process.stderr.isTTY && !flags.json`)
   * @param delayMs how long a step runs before its status appears. Default 250.
   */
  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly enabled: boolean,
    private readonly delayMs = 250,
  ) {}

  /** Shows `text` in place of the current status (at once when `now`, else after the delay). */
  set(text: string, options: { now?: boolean } = {}): void {
    if (!this.enabled) return;
    clearTimeout(this.timer);
    const draw = (): void => {
      const width = this.out.columns || 80; // 0 when the terminal reports no size
      this.out.write(`\r\x1b[K${text.length < width ? text : `${text.slice(0, Math.max(0, width - 2))}…`}`);
      this.shown = true;
    };
    if (options.now || this.shown) draw();
    else {
      this.timer = setTimeout(draw, this.delayMs);
      this.timer.unref();
    }
  }

  /** Erases the status (and cancels one not yet shown). */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.shown) this.out.write("\r\x1b[K");
    this.shown = false;
  }
}
