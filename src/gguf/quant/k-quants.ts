/**
 * The 256-element super-block types Q4_K and Q6_K: quantizers that produce the
 * same bytes as ggml's quantize_row_q4_K_ref / quantize_row_q6_K_ref (without
 * an importance matrix), and the matching dequantizers.
 *
 *   Q4_K (144 B): d, dmin (F16), scales[12] (eight 6-bit scales and eight
 *     6-bit mins, packed), qs[128]. Eight sub-blocks of 32; value = d·sc·q − dmin·m.
 *   Q6_K (210 B): ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16]
 *     (int8, one per 16 values), d (F16); value = d·scale·(q − 32).
 *
 * The search for good scales (make_qkx2_quants, make_qx_quants) is followed
 * step by step, including its quirks (a better minimum found mid-search is
 * used by the remaining steps; a sub-block whose rounded scale is zero keeps
 * the levels of the search).
 */
import { readF16, writeF16 } from "./f16-fields.js";

// Float32 arithmetic reproduced op by op, as in legacy-quants.ts (a module-local alias of
// Math.fround: about 10% faster on these loops than an imported one).
const fr = Math.fround;
/** ggml's nearest_int: round half to even via the 1.5·2^23 trick (valid for |v| ≤ 4194303). */
const nearestInt = (value: number): number => fr(value + 12582912) - 12582912;

const QK_K = 256;
/** ggml's GROUP_MAX_EPS (1e-15f). */
const GROUP_MAX_EPS = fr(1e-15);

/**
 * Fits x[offset..offset+n) as scale·L − theMin with L in 0..nmax, minimising
 * the weighted squared error over a sweep of nstep+1 candidate scales.
 * Writes the levels to L and [scale, theMin] to result.
 */
function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  offset: number,
  weights: Float32Array,
  L: Uint8Array,
  lOffset: number,
  laux: Uint8Array,
  shifted: Float32Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  result: Float32Array,
): void {
  let min = x[offset]!;
  let max = x[offset]!;
  let sumW = weights[0]!;
  let sumX = fr(sumW * x[offset]!);
  for (let i = 1; i < n; i++) {
    const v = x[offset + i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    const w = weights[i]!;
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[lOffset + i] = 0;
    result[0] = 0;
    result[1] = -min;
    return;
  }
  // x - min, reused by every candidate until a better minimum is found.
  for (let i = 0; i < n; i++) shifted[i] = x[offset + i]! - min;
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    let l = nearestInt(fr(iscale * shifted[i]!));
    l = l < 0 ? 0 : l > nmax ? nmax : l;
    L[lOffset + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - x[offset + i]!);
    diff = fr(diff * diff);
    bestError = fr(bestError + fr(weights[i]! * diff));
  }
  let previousEvaluated = false;
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let same = previousEvaluated;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(fr(iscale * shifted[i]!));
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      if (laux[i] !== l) {
        laux[i] = l;
        same = false;
      }
    }
    // The sums and the error depend on the levels alone (not on min): levels equal to the
    // previous candidate's give its error again, which cannot beat the best any more.
    if (same) continue;
    previousEvaluated = true;
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = laux[i]!;
      const wl = fr(weights[i]! * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[offset + i]!));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * laux[i]!) + thisMin) - x[offset + i]!);
        diff = fr(diff * diff);
        curError = fr(curError + fr(weights[i]! * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lOffset + i] = laux[i]!;
        bestError = curError;
        scale = thisScale;
        if (thisMin !== min) {
          min = thisMin;
          for (let i = 0; i < n; i++) shifted[i] = x[offset + i]! - min;
        }
      }
    }
  }
  result[0] = scale;
  result[1] = -min;
}

/** Reads the j-th 6-bit scale and min of a Q4_K block (ggml's get_scale_min_k4). */
function scaleMinK4(j: number, q: Uint8Array, at: number): [number, number] {
  if (j < 4) return [q[at + j]! & 63, q[at + j + 4]! & 63];
  return [(q[at + j + 4]! & 0x0f) | ((q[at + j - 4]! >>> 6) << 4), (q[at + j + 4]! >>> 4) | ((q[at + j]! >>> 6) << 4)];
}

export function quantizeQ4_K(x: Float32Array, out: Uint8Array): void {
  const L = new Uint8Array(QK_K);
  const laux = new Uint8Array(32);
  const weights = new Float32Array(32);
  const mins = new Float32Array(8);
  const scales = new Float32Array(8);
  const shifted = new Float32Array(32);
  const fit = new Float32Array(2);
  for (let base = 0, o = 0; base < x.length; base += QK_K, o += 144) {
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      const at = base + 32 * j;
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[at + l]! * x[at + l]!));
      const avX = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = avX + Math.abs(x[at + l]!);
      makeQkx2Quants(32, 15, x, at, weights, L, 32 * j, laux, shifted, -1, fr(0.1), 20, fit);
      scales[j] = fit[0]!;
      mins[j] = fit[1]!;
      if (scales[j]! > maxScale) maxScale = scales[j]!;
      if (mins[j]! > maxMin) maxMin = mins[j]!;
    }
    const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
    const sc = o + 4;
    for (let j = 0; j < 8; j++) {
      // uint8_t ls = nearest_int(...): the low byte, then clamped to 63.
      const ls = Math.min(63, nearestInt(fr(invScale * scales[j]!)) & 0xff);
      const lm = Math.min(63, nearestInt(fr(invMin * mins[j]!)) & 0xff);
      if (j < 4) {
        out[sc + j] = ls;
        out[sc + j + 4] = lm;
      } else {
        out[sc + j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
        out[sc + j - 4] |= (ls >>> 4) << 6;
        out[sc + j] |= (lm >>> 4) << 6;
      }
    }
    const d = writeF16(out, o, fr(maxScale / 63));
    const dmin = writeF16(out, o + 2, fr(maxMin / 63));
    for (let j = 0; j < 8; j++) {
      const [s, m] = scaleMinK4(j, out, sc);
      const dj = fr(d * s);
      if (dj === 0) continue;
      const dm = fr(dmin * m);
      for (let ii = 0; ii < 32; ii++) {
        L[32 * j + ii] = Math.max(0, Math.min(15, nearestInt(fr(fr(x[base + 32 * j + ii]! + dm) / dj))));
      }
    }
    const qs = o + 16;
    for (let j = 0, q = qs; j < QK_K; j += 64, q += 32) {
      for (let l = 0; l < 32; l++) out[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
    }
  }
}

export function dequantizeQ4_K(bytes: Uint8Array, y: Float32Array): void {
  for (let base = 0, o = 0; base < y.length; base += QK_K, o += 144) {
    const d = readF16(bytes, o);
    const min = readF16(bytes, o + 2);
    let out = base;
    for (let j = 0, q = o + 16, is = 0; j < QK_K; j += 64, q += 32, is += 2) {
      const [s1, m1raw] = scaleMinK4(is, bytes, o + 4);
      const [s2, m2raw] = scaleMinK4(is + 1, bytes, o + 4);
      const d1 = fr(d * s1);
      const m1 = fr(min * m1raw);
      const d2 = fr(d * s2);
      const m2 = fr(min * m2raw);
      for (let l = 0; l < 32; l++) y[out++] = fr(d1 * (bytes[q + l]! & 0x0f)) - m1;
      for (let l = 0; l < 32; l++) y[out++] = fr(d2 * (bytes[q + l]! >>> 4)) - m2;
    }
  }
}

/**
 * Fits x[offset..offset+n) as scale·(L − nmax) with L in 0..2·nmax−1,
 * weighting by x² (make_qx_quants with rmse_type 1), trying 18 scales
 * around the first guess. Writes the levels to L and returns the scale.
 */
function makeQxQuants(n: number, nmax: number, x: Float32Array, offset: number, L: Int8Array, lOffset: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const v = x[offset + i]!;
    const a = Math.abs(v);
    if (a > amax) {
      amax = a;
      max = v;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lOffset + i] = 0;
    return 0;
  }
  // The weights x² and x²·x do not change between candidates: compute them once.
  const w = qxWeights;
  const wx = qxWeightedX;
  for (let i = 0; i < n; i++) {
    const v = x[offset + i]!;
    w[i] = v * v;
    wx[i] = w[i]! * v;
  }
  const levels = qxLevels;
  let iscale = fr(-nmax / max);
  let sumLX = 0;
  let sumL2 = 0;
  for (let i = 0; i < n; i++) {
    let l = nearestInt(fr(iscale * x[offset + i]!));
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    L[lOffset + i] = l + nmax;
    sumLX = fr(sumLX + fr(wx[i]! * l));
    sumL2 = fr(sumL2 + fr(fr(w[i]! * l) * l));
  }
  let scale = sumL2 !== 0 ? fr(sumLX / sumL2) : 0;
  let best = fr(scale * sumLX);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    sumLX = 0;
    sumL2 = 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(fr(iscale * x[offset + i]!));
      l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
      levels[i] = l;
      sumLX = fr(sumLX + fr(wx[i]! * l));
      sumL2 = fr(sumL2 + fr(fr(w[i]! * l) * l));
    }
    if (sumL2 > 0 && fr(sumLX * sumLX) > fr(best * sumL2)) {
      for (let i = 0; i < n; i++) L[lOffset + i] = nmax + levels[i]!;
      scale = fr(sumLX / sumL2);
      best = fr(scale * sumLX);
    }
  }
  return scale;
}

/** Scratch space of makeQxQuants (sub-blocks of 16; each worker thread has its own module instance). */
const qxWeights = new Float32Array(16);
const qxWeightedX = new Float32Array(16);
const qxLevels = new Int8Array(16);

export function quantizeQ6_K(x: Float32Array, out: Uint8Array): void {
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  for (let base = 0, o = 0; base < x.length; base += QK_K, o += 210) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, x, base + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      const abs = Math.abs(scale);
      if (abs > maxAbsScale) {
        maxAbsScale = abs;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      out.fill(0, o, o + 210);
      continue;
    }
    const iscale = fr(-128 / maxScale);
    const d = writeF16(out, o + 208, fr(1 / iscale));
    const scaleBytes = new Int8Array(out.buffer, out.byteOffset + o + 192, 16);
    for (let ib = 0; ib < 16; ib++) scaleBytes[ib] = Math.min(127, nearestInt(fr(iscale * scales[ib]!)));
    for (let j = 0; j < 16; j++) {
      const dj = fr(d * scaleBytes[j]!);
      if (dj === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        L[16 * j + ii] = Math.max(-32, Math.min(31, nearestInt(fr(x[base + 16 * j + ii]! / dj)))) + 32;
      }
    }
    for (let j = 0, ql = o, qh = o + 128; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const a = L[j + l]!;
        const b = L[j + l + 32]!;
        const c = L[j + l + 64]!;
        const e = L[j + l + 96]!;
        out[ql + l] = (a & 0x0f) | ((c & 0x0f) << 4);
        out[ql + l + 32] = (b & 0x0f) | ((e & 0x0f) << 4);
        out[qh + l] = (a >>> 4) | ((b >>> 4) << 2) | ((c >>> 4) << 4) | ((e >>> 4) << 6);
      }
    }
  }
}

export function dequantizeQ6_K(bytes: Uint8Array, y: Float32Array): void {
  for (let base = 0, o = 0; base < y.length; base += QK_K, o += 210) {
    const d = readF16(bytes, o + 208);
    for (let n = 0, ql = o, qh = o + 128, sc = o + 192; n < QK_K; n += 128, ql += 64, qh += 32, sc += 8) {
      for (let l = 0; l < 32; l++) {
        const is = l >>> 4;
        const h = bytes[qh + l]!;
        const q1 = ((bytes[ql + l]! & 0x0f) | ((h & 3) << 4)) - 32;
        const q2 = ((bytes[ql + l + 32]! & 0x0f) | (((h >>> 2) & 3) << 4)) - 32;
        const q3 = ((bytes[ql + l]! >>> 4) | (((h >>> 4) & 3) << 4)) - 32;
        const q4 = ((bytes[ql + l + 32]! >>> 4) | (((h >>> 6) & 3) << 4)) - 32;
        const s = (i: number): number => (bytes[sc + i]! << 24) >> 24;
        y[base + n + l] = fr(d * s(is)) * q1;
        y[base + n + l + 32] = fr(d * s(is + 2)) * q2;
        y[base + n + l + 64] = fr(d * s(is + 4)) * q3;
        y[base + n + l + 96] = fr(d * s(is + 6)) * q4;
      }
    }
  }
}
