/** The statistics the benchmarks share: quantiles of timings, and the order targets take turns in. */

/** The q-quantile (0..1) of a list, interpolated between neighbours; NaN for an empty list. */
export function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** The median of a non-empty list (NaN for an empty one). */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/**
 * The targets in the order round `by` runs them: each round starts with the next one, so no target always runs
 * first (on a warm or a cold machine) in an interleaved benchmark.
 */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** A number with `digits` decimals, or "–" when it is not finite (a target that failed). */
export function fmt(v: number, digits = 1): string {
  return Number.isFinite(v) ? v.toFixed(digits) : "–";
}
