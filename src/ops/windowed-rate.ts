/**
 * A per-second rate over a sliding window (e.g. generated tokens per second
 * over the last minute), kept as one counter per second so that adding is
 * O(1) on the token path whatever the rate.
 */
export class WindowedRate {
  private readonly counts: Float64Array;
  private readonly seconds: Float64Array;
  private readonly startedAt: number;

  /**
   * @param windowSeconds the window, in whole seconds (at least 1).
   * @param now the clock in ms (default performance.now()); the rate of a window
   *   younger than windowSeconds is taken over the time since creation.
   */
  constructor(
    private readonly windowSeconds: number,
    now = performance.now(),
  ) {
    const size = Math.max(1, Math.ceil(windowSeconds)) + 1;
    this.counts = new Float64Array(size);
    this.seconds = new Float64Array(size).fill(-1);
    this.startedAt = now;
  }

  /** Adds `n` events at `now` (ms). */
  add(n: number, now = performance.now()): void {
    const second = Math.floor(now / 1000);
    const slot = second % this.counts.length;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.counts[slot] = 0;
    }
    this.counts[slot]! += n;
  }

  /** Events in the window. */
  total(now = performance.now()): number {
    const second = Math.floor(now / 1000);
    const oldest = second - Math.ceil(this.windowSeconds) + 1;
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const s = this.seconds[i]!;
      if (s >= oldest && s <= second) sum += this.counts[i]!;
    }
    return sum;
  }

  /** Events per second over the window (or over the time since creation when shorter). */
  rate(now = performance.now()): number {
    const span = Math.min(this.windowSeconds, Math.max(1, (now - this.startedAt) / 1000));
    return this.total(now) / span;
  }
}
