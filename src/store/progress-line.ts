/**
 * A one-line progress bar for a terminal: redrawn in place at most every
 * 100 ms, with bytes done, rate and time left. Only ever given a TTY stream;
 * piped output gets no progress at all.
 */
import { formatBytes } from "../cli/format.js";

const BAR_WIDTH = 24;
const REDRAW_MS = 100;

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m${String(Math.round(seconds % 60)).padStart(2, "0")}s` : `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

export class ProgressLine {
  private lastDraw = 0;
  private readonly started = performance.now();
  private startBytes: number | undefined;
  private drawn = false;

  /**
   * @param out a TTY stream (stderr), or undefined for no output
   * @param label what is in progress, e.g. "pulling smollm2:360m-q8_0"
   * @param total bytes expected, when known
   */
  constructor(
    private readonly out: NodeJS.WritableStream | undefined,
    private readonly label: string,
    private total?: number,
  ) {}

  setTotal(total: number | undefined): void {
    this.total = total;
  }

  /** Reports bytes done so far (absolute, not a delta). */
  update(done: number, force = false): void {
    if (!this.out) return;
    this.startBytes ??= done;
    const now = performance.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0.2 ? (done - this.startBytes) / seconds : 0;
    let line = `${this.label} `;
    if (this.total && this.total > 0) {
      const fraction = Math.min(1, done / this.total);
      const filled = Math.round(fraction * BAR_WIDTH);
      line += `${String(Math.floor(fraction * 100)).padStart(3)}% ▕${"█".repeat(filled)}${" ".repeat(BAR_WIDTH - filled)}▏ ${formatBytes(done)}/${formatBytes(this.total)}`;
      if (rate > 0) line += `  ${formatBytes(rate)}/s  ${formatDuration((this.total - done) / rate)} left`;
    } else {
      line += formatBytes(done);
      if (rate > 0) line += `  ${formatBytes(rate)}/s`;
    }
    this.out.write(`\r\x1b[2K${line}`);
    this.drawn = true;
  }

  /** Clears the bar; prints `message` on its own line when given. */
  finish(message?: string): void {
    if (!this.out) return;
    if (this.drawn) this.out.write("\r\x1b[2K");
    if (message) this.out.write(`${message}\n`);
    this.drawn = false;
  }
}
