import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addGaussianNoise, clipDelta, deltaNorm, type F32Tensor } from "../../src/federate/model-delta.js";
import { gaussianDelta, gaussianPrivacy, logNormalCdf } from "../../src/federate/privacy-accountant.js";

describe("the Gaussian mechanism's (ε, δ)", () => {
  it("computes Φ far into both tails", () => {
    // Φ(−1.959963985) = 0.025; Φ(−10) = 7.619853024160527e-24 (standard normal tables); Φ(3) = 0.9986501019683699.
    assert.ok(Math.abs(Math.exp(logNormalCdf(-1.959963985)) - 0.025) < 1e-9);
    assert.ok(Math.abs(Math.exp(logNormalCdf(-10)) / 7.619853024160527e-24 - 1) < 1e-8);
    assert.ok(Math.abs(Math.exp(logNormalCdf(3)) - 0.9986501019683699) < 1e-12);
  });

  it("matches known values: δ(0) = 2Φ(1/(2z)) − 1, the classic bound's formula, and μ-GDP's ε for μ = 1", () => {
    // z = 1 (μ = 1): δ(0) = Φ(0.5) − Φ(−0.5) = 0.3829249225480262.
    assert.ok(Math.abs(gaussianDelta(0, 1) - 0.3829249225480262) < 1e-12);
    // Classic: √(2 ln(1.25/1e-5)) / 5 = 0.96896…
    const p = gaussianPrivacy(5, 1e-5);
    assert.ok(Math.abs(p.classicEpsilon - Math.sqrt(2 * Math.log(125_000)) / 5) < 1e-15);
    assert.ok(Math.abs(p.classicEpsilon - 0.968961) < 1e-6);
    assert.equal(p.classicValid, true);
    // The tight ε is below the classic bound where that bound holds, and δ(ε) gives back the δ asked for.
    assert.ok(p.epsilon < p.classicEpsilon, `${p.epsilon} < ${p.classicEpsilon}`);
    assert.ok(Math.abs(gaussianDelta(p.epsilon, 5) / 1e-5 - 1) < 1e-6);
    // μ = 1, δ = 1e-5: checked against the privacy loss distribution integrated numerically, an independent route:
    // the loss L of the Gaussian mechanism is N(μ²/2, μ²) and δ(ε) = E[(1 − e^(ε−L))₊].
    const one = gaussianPrivacy(1, 1e-5);
    assert.ok(one.epsilon > 4.3 && one.epsilon < 4.45, String(one.epsilon));
    const integrated = (epsilon: number, mu: number): number => {
      let sum = 0;
      const step = 1e-4;
      for (let l = epsilon; l < mu * mu / 2 + 40 * mu; l += step) {
        const density = Math.exp(-((l - mu * mu / 2) ** 2) / (2 * mu * mu)) / (mu * Math.sqrt(2 * Math.PI));
        sum += (1 - Math.exp(epsilon - l)) * density * step;
      }
      return sum;
    };
    assert.ok(Math.abs(integrated(one.epsilon, 1) / 1e-5 - 1) < 1e-3, String(integrated(one.epsilon, 1)));
    assert.ok(Math.abs(integrated(2, 1 / 0.7) / gaussianDelta(2, 0.7) - 1) < 1e-3);
  });

  it("says no privacy without noise, and grows ε as the noise shrinks", () => {
    assert.equal(gaussianPrivacy(0, 1e-5).epsilon, Infinity);
    const eps = [4, 2, 1, 0.5].map((z) => gaussianPrivacy(z, 1e-5).epsilon);
    for (let i = 1; i < eps.length; i++) assert.ok(eps[i]! > eps[i - 1]!);
    assert.throws(() => gaussianPrivacy(1, 0), RangeError);
  });
});

describe("weight deltas: clipping and noise", () => {
  const tensors = (): F32Tensor[] => [
    { name: "a", dims: [3], values: Float32Array.from([3, 0, 0]) },
    { name: "b", dims: [2, 2], values: Float32Array.from([0, 4, 0, 0]) },
  ];

  it("clips the global L2 norm to the bound and leaves a delta within it alone", () => {
    const t = tensors();
    assert.equal(deltaNorm(t), 5);
    const r = clipDelta(t, 1);
    assert.equal(r.norm, 5);
    assert.ok(r.clippedNorm <= 1 && r.clippedNorm > 0.9999);
    assert.ok(Math.abs(t[0]!.values[0]! - 0.6) < 1e-5 && Math.abs(t[1]!.values[1]! - 0.8) < 1e-5, "the direction is kept");
    const small = tensors();
    assert.deepEqual(clipDelta(small, 10), { norm: 5, clippedNorm: 5 });
    assert.equal(small[0]!.values[0], 3);
  });

  it("adds noise with the standard deviation asked for", () => {
    const t: F32Tensor[] = [{ name: "z", dims: [200_000], values: new Float32Array(200_000) }];
    addGaussianNoise(t, 0.01);
    let sum = 0;
    let squares = 0;
    for (const v of t[0]!.values) {
      sum += v;
      squares += v * v;
    }
    const mean = sum / 200_000;
    const sd = Math.sqrt(squares / 200_000 - mean * mean);
    assert.ok(Math.abs(mean) < 1e-4, `mean ${mean}`);
    assert.ok(Math.abs(sd / 0.01 - 1) < 0.01, `sd ${sd}`);
  });
});
