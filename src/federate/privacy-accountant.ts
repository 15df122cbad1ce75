/**
 * The (ε, δ) one round's Gaussian mechanism gives each participant's update. An update is clipped to L2 norm C
 * (its sensitivity: replacing one participant's data moves it by at most C) and gets N(0, (z·C)²) noise per value,
 * so the privacy depends on the noise multiplier z alone.
 *
 * - `exact`: the tight curve of the Gaussian mechanism (Balle & Wang 2018, "analytic Gaussian mechanism";
 *   equivalently μ-GDP with μ = 1/z, Dong, Roth & Su): δ(ε) = Φ(1/(2z) − εz) − e^ε Φ(−1/(2z) − εz), solved for ε by
 *   bisection. Valid for every ε.
 * - `classic`: Dwork & Roth's bound ε = √(2 ln(1.25/δ)) / z, proved only for ε < 1 (`classicValid`).
 *
 * This is per-update (user-level) DP for one round: it covers what the coordinator, or anyone who reads the update,
 * can learn about a participant's whole text from that update. Several rounds compose (their ε add up, at worst).
 */

/** erfc(x) for x ≥ 0, as log: a Taylor series of erf below 3, a continued fraction above (relative error < 1e-9). */
function logErfc(x: number): number {
  if (x < 3) {
    // erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.log(1 - (2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))), evaluated from the tail.
  let fraction = x;
  for (let k = 120; k >= 1; k--) fraction = x + k / 2 / fraction;
  return -x * x - 0.5 * Math.log(Math.PI) - Math.log(fraction);
}

/** log Φ(x), the standard normal CDF, accurate far into both tails. */
export function logNormalCdf(x: number): number {
  if (x < 0) return logErfc(-x / Math.SQRT2) - Math.LN2;
  return Math.log1p(-Math.exp(logErfc(x / Math.SQRT2) - Math.LN2));
}

/** δ(ε) of the Gaussian mechanism with noise multiplier z (noise σ = z × sensitivity). */
export function gaussianDelta(epsilon: number, noiseMultiplier: number): number {
  const z = noiseMultiplier;
  const a = Math.exp(logNormalCdf(1 / (2 * z) - epsilon * z));
  const b = Math.exp(epsilon + logNormalCdf(-1 / (2 * z) - epsilon * z));
  return Math.max(0, a - b);
}

export interface PrivacyGuarantee {
  /** The noise multiplier z (σ / C). */
  noiseMultiplier: number;
  delta: number;
  /** The tight ε for this δ (Infinity without noise). */
  epsilon: number;
  /** Dwork & Roth's ε = √(2 ln(1.25/δ)) / z (Infinity without noise). */
  classicEpsilon: number;
  /** Whether the classic bound's proof covers it (ε < 1). */
  classicValid: boolean;
  accountant: string;
}

/** The (ε, δ) of one release of a clipped update with Gaussian noise of multiplier `z` (0: no privacy, ε = ∞). */
export function gaussianPrivacy(noiseMultiplier: number, delta: number): PrivacyGuarantee {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`δ must be between 0 and 1 (got ${delta})`);
  const accountant = "Gaussian mechanism, analytic (Balle & Wang 2018), one release per round";
  if (!(noiseMultiplier > 0)) return { noiseMultiplier, delta, epsilon: Infinity, classicEpsilon: Infinity, classicValid: false, accountant };
  const classicEpsilon = Math.sqrt(2 * Math.log(1.25 / delta)) / noiseMultiplier;
  // δ(ε) falls as ε grows: bisect on [0, hi] with hi doubled until δ(hi) ≤ δ.
  let lo = 0;
  let hi = 1;
  while (gaussianDelta(hi, noiseMultiplier) > delta && hi < 1e12) hi *= 2;
  if (gaussianDelta(0, noiseMultiplier) <= delta) hi = 0;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (gaussianDelta(mid, noiseMultiplier) > delta) lo = mid;
    else hi = mid;
  }
  return { noiseMultiplier, delta, epsilon: hi, classicEpsilon, classicValid: classicEpsilon < 1, accountant };
}
