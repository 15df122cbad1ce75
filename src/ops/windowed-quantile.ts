/**
 * Quantiles of the observations made in the last `windowMs` (e.g. TTFT p95
 * over the last minute, which a policy compares with its threshold).
 * Memory is bounded: beyond `maxSamples` the oldest observations are dropped.
 */
export class WindowedQuantile {
  private times: number[] = [];
  private values: number[] = [];

  /**
   * @param windowMs how far back observations count, in ms.
   * @param maxSamples most observations kept. Default 10000.
   */
  constructor(
    private readonly windowMs: number,
    private readonly maxSamples = 10_000,
  ) {}

  /** Records `value` observed at `now` (ms; default performance.now()). */
  add(value: number, now = performance.now()): void {
    this.times.push(now);
    this.values.push(value);
    if (this.times.length > this.maxSamples * 2) this.drop(this.times.length - this.maxSamples);
  }

  /** Observations within the window. */
  count(now = performance.now()): number {
    this.prune(now);
    return Math.min(this.values.length, this.maxSamples);
  }

  /** The q-quantile (0–1, nearest rank) of the window's observations, or undefined when there are none. */
  quantile(q: number, now = performance.now()): number | undefined {
    this.prune(now);
    const start = Math.max(0, this.values.length - this.maxSamples);
    if (this.values.length - start === 0) return undefined;
    const sorted = this.values.slice(start).sort((a, b) => a - b);
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return sorted[rank];
  }

  private prune(now: number): void {
    const cutoff = now - this.windowMs;
    let stale = 0;
    while (stale < this.times.length && this.times[stale]! <= cutoff) stale++;
    if (stale > 0) this.drop(stale);
  }

  private drop(n: number): void {
    this.times = this.times.slice(n);
    this.values = this.values.slice(n);
  }
}
