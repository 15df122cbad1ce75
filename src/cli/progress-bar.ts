/**
 * The CLI's one progress bar for long work (pull, verify, synth, quantize,
 * eval) on a terminal. Redraws at most every 100 ms; prints nothing when the
 * stream is not a TTY, so piped output stays machine-readable. Libraries
 * report through a ProgressReporter (src/progress.ts); `terminalProgress`
 * draws those reports.
 */
import type { ProgressReporter } from "../progress.js";
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

  /** Updates the bar with `done` of `total` bytes (unknown: bytes and rate only) and an optional note (e.g. the current tensor). */
  update(done: number, total: number | undefined, note = ""): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && (total === undefined || done < total)) return;
    this.lastDraw = now;
    const seconds = (now - this.startedAt) / 1000;
    const rate = seconds > 0 ? `${formatBytes(done / seconds)}/s` : "";
    const columns = this.out.columns ?? 100;
    let line: string;
    if (total === undefined) {
      line = `${this.label} ${formatBytes(done)} ${rate} ${note}`;
    } else {
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      const width = 24;
      const filled = Math.round(fraction * width);
      line = `${this.label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)} ${rate} ${note}`;
    }
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

/**
 * A ProgressReporter drawing one bar per piece of work on `out` (default
 * stderr), or undefined when `out` is not a terminal (or `quiet`, e.g. --json).
 */
export function terminalProgress(options: { out?: NodeJS.WriteStream; quiet?: boolean } = {}): ProgressReporter | undefined {
  const out = options.out ?? process.stderr;
  if (options.quiet || out.isTTY !== true) return undefined;
  let bar: { label: string; bar: ProgressBar } | undefined;
  return (event) => {
    if (bar?.label !== event.label) {
      bar?.bar.done();
      bar = { label: event.label, bar: new ProgressBar(event.label, out) };
    }
    if (event.finished) {
      bar.bar.done();
      bar = undefined;
      return;
    }
    bar.bar.update(event.done, event.total, event.note);
  };
}
