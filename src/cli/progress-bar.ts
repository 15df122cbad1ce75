/**
 * A one-line progress bar for long work (synth, quantize) on a terminal.
 * Redraws at most every 100 ms; prints nothing when the stream is not a TTY,
 * so piped output stays machine-readable.
 */
import { formatBytes } from "./format.js";

export class ProgressBar {
  private lastDraw = Number.NEGATIVE_INFINITY;
  private readonly startedAt = performance.now();
  private drawn = false;

  /**
   * @param label shown before the bar, e.g. "quantizing"
   * @param out the stream to draw on (default stderr); nothing is drawn unless it is a TTY
   */
  constructor(
    private readonly label: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  get enabled(): boolean {
    return this.out.isTTY === true;
  }

  /** Updates the bar with `done` of `total` bytes and an optional note (e.g. the current tensor). */
  update(done: number, total: number, note = ""): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && done < total) return;
    this.lastDraw = now;
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const width = 24;
    const filled = Math.round(fraction * width);
    const seconds = (now - this.startedAt) / 1000;
    const rate = seconds > 0 ? `${formatBytes(done / seconds)}/s` : "";
    const columns = this.out.columns ?? 100;
    let line = `${this.label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)} ${rate} ${note}`;
    if (line.length > columns - 1) line = line.slice(0, columns - 1);
    this.out.write(`\r${line}\x1b[K`);
    this.drawn = true;
  }

  /** Clears the bar (call before printing the result or an error). */
  done(): void {
    if (this.drawn) this.out.write("\r\x1b[K");
    this.drawn = false;
  }
}
