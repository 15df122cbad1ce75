/**
 * The 32-element block types Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1: quantizers that
 * produce the same bytes as ggml's reference quantizers (quantize_row_*_ref in
 * ggml-quants.c) and the matching dequantizers (dequantize_row_*).
 *
 * Block layouts (little-endian, F16 scales):
 *   Q8_0 (34 B): d, qs[32] int8                  value = q·d
 *   Q4_0 (18 B): d, qs[16] two 4-bit per byte    value = (q−8)·d
 *   Q4_1 (20 B): d, m, qs[16]                    value = q·d + m
 *   Q5_0 (22 B): d, qh (u32: 5th bits), qs[16]   value = (q−16)·d
 *   Q5_1 (24 B): d, m, qh, qs[16]                value = q·d + m
 * In the 4- and 5-bit types, byte j holds element j (low nibble) and j+16 (high).
 *
 * Every function takes `x.length` a multiple of 32 and an output of exactly
 * the blocks' size.
 */
import { readF16, writeF16 } from "./f16-fields.js";

// Float32 arithmetic in JavaScript doubles: every intermediate result goes through
// Math.fround. One double operation on float32 inputs rounded to float32 is exactly the
// float32 operation, so the bits equal the C code's compiled without FMA contraction
// (x86-64's baseline, which ggml-base is built for). A module-local alias: V8 inlines it
// more readily than an imported one.
const fr = Math.fround;
/** C's FLT_MAX. */
const FLT_MAX = 3.4028234663852886e38;

const QK = 32;

export function quantizeQ8_0(x: Float32Array, out: Uint8Array): void {
  for (let block = 0, o = 0; block < x.length; block += QK, o += 34) {
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const a = Math.abs(x[block + j]!);
      if (a > amax) amax = a;
    }
    const d = fr(amax / 127);
    const id = d !== 0 ? fr(1 / d) : 0;
    writeF16(out, o, d);
    for (let j = 0; j < QK; j++) {
      // roundf: |v| ≤ 127, so v ± 0.5 is exact in a double and truncation finishes the rounding.
      const v = fr(x[block + j]! * id);
      out[o + 2 + j] = (v < 0 ? v - 0.5 : v + 0.5) | 0;
    }
  }
}

export function dequantizeQ8_0(bytes: Uint8Array, y: Float32Array): void {
  for (let block = 0, o = 0; block < y.length; block += QK, o += 34) {
    const d = readF16(bytes, o);
    for (let j = 0; j < QK; j++) y[block + j] = ((bytes[o + 2 + j]! << 24) >> 24) * d;
  }
}

/** The value with the largest magnitude (the first one on ties), as the symmetric types scale by. */
function signedAbsMax(x: Float32Array, block: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < QK; j++) {
    const v = x[block + j]!;
    const a = Math.abs(v);
    if (amax < a) {
      amax = a;
      max = v;
    }
  }
  return max;
}

export function quantizeQ4_0(x: Float32Array, out: Uint8Array): void {
  for (let block = 0, o = 0; block < x.length; block += QK, o += 18) {
    const d = fr(signedAbsMax(x, block) / -8);
    const id = d !== 0 ? fr(1 / d) : 0;
    writeF16(out, o, d);
    for (let j = 0; j < 16; j++) {
      // (int8_t)(x·id + 8.5f): truncation toward zero, the +0.5 makes it round.
      const q0 = Math.min(15, Math.trunc(fr(fr(x[block + j]! * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(x[block + 16 + j]! * id) + 8.5)));
      out[o + 2 + j] = q0 | (q1 << 4);
    }
  }
}

export function dequantizeQ4_0(bytes: Uint8Array, y: Float32Array): void {
  for (let block = 0, o = 0; block < y.length; block += QK, o += 18) {
    const d = readF16(bytes, o);
    for (let j = 0; j < 16; j++) {
      const q = bytes[o + 2 + j]!;
      y[block + j] = ((q & 0x0f) - 8) * d;
      y[block + 16 + j] = ((q >>> 4) - 8) * d;
    }
  }
}

/**
 * The affine types' block header: d = (max − min)/levels and m = min as F16 at
 * `o` and `o + 2`. Returns min and 1/d (0 when d is 0), which the quants use.
 */
function writeAffineHeader(x: Float32Array, block: number, levels: number, out: Uint8Array, o: number): [min: number, id: number] {
  let min = FLT_MAX;
  let max = -FLT_MAX;
  for (let j = 0; j < QK; j++) {
    const v = x[block + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const d = fr(fr(max - min) / levels);
  writeF16(out, o, d);
  writeF16(out, o + 2, min);
  return [min, d !== 0 ? fr(1 / d) : 0];
}

export function quantizeQ4_1(x: Float32Array, out: Uint8Array): void {
  for (let block = 0, o = 0; block < x.length; block += QK, o += 20) {
    const [min, id] = writeAffineHeader(x, block, 15, out, o);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(fr(fr(fr(x[block + j]! - min) * id) + 0.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(fr(x[block + 16 + j]! - min) * id) + 0.5)));
      out[o + 4 + j] = q0 | (q1 << 4);
    }
  }
}

export function dequantizeQ4_1(bytes: Uint8Array, y: Float32Array): void {
  for (let block = 0, o = 0; block < y.length; block += QK, o += 20) {
    const d = readF16(bytes, o);
    const m = readF16(bytes, o + 2);
    for (let j = 0; j < 16; j++) {
      const q = bytes[o + 4 + j]!;
      y[block + j] = fr((q & 0x0f) * d) + m;
      y[block + 16 + j] = fr((q >>> 4) * d) + m;
    }
  }
}

/** Packs 5-bit values: low nibbles into qs, the fifth bits into the u32 qh (bit j: element j). */
function pack5(values: Uint8Array, out: Uint8Array, qhOffset: number, qsOffset: number): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const q0 = values[j]!;
    const q1 = values[16 + j]!;
    out[qsOffset + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
    qh |= ((q0 & 0x10) >>> 4) << j;
    qh |= ((q1 & 0x10) >>> 4) << (j + 16);
  }
  out[qhOffset] = qh & 0xff;
  out[qhOffset + 1] = (qh >>> 8) & 0xff;
  out[qhOffset + 2] = (qh >>> 16) & 0xff;
  out[qhOffset + 3] = qh >>> 24;
}

function unpack5(bytes: Uint8Array, qhOffset: number, qsOffset: number, j: number): [number, number] {
  const qh = (bytes[qhOffset]! | (bytes[qhOffset + 1]! << 8) | (bytes[qhOffset + 2]! << 16) | (bytes[qhOffset + 3]! << 24)) >>> 0;
  const q = bytes[qsOffset + j]!;
  return [(q & 0x0f) | (((qh >>> j) << 4) & 0x10), (q >>> 4) | ((qh >>> (j + 12)) & 0x10)];
}

export function quantizeQ5_0(x: Float32Array, out: Uint8Array): void {
  const values = new Uint8Array(QK);
  for (let block = 0, o = 0; block < x.length; block += QK, o += 22) {
    const d = fr(signedAbsMax(x, block) / -16);
    const id = d !== 0 ? fr(1 / d) : 0;
    writeF16(out, o, d);
    for (let j = 0; j < QK; j++) values[j] = Math.min(31, Math.trunc(fr(fr(x[block + j]! * id) + 16.5)));
    pack5(values, out, o + 2, o + 6);
  }
}

export function dequantizeQ5_0(bytes: Uint8Array, y: Float32Array): void {
  for (let block = 0, o = 0; block < y.length; block += QK, o += 22) {
    const d = readF16(bytes, o);
    for (let j = 0; j < 16; j++) {
      const [q0, q1] = unpack5(bytes, o + 2, o + 6, j);
      y[block + j] = (q0 - 16) * d;
      y[block + 16 + j] = (q1 - 16) * d;
    }
  }
}

export function quantizeQ5_1(x: Float32Array, out: Uint8Array): void {
  const values = new Uint8Array(QK);
  for (let block = 0, o = 0; block < x.length; block += QK, o += 24) {
    const [min, id] = writeAffineHeader(x, block, 31, out, o);
    // (uint8_t)(x + 0.5f) with no clamp, as the reference does; the Uint8Array keeps the low byte.
    for (let j = 0; j < QK; j++) values[j] = Math.trunc(fr(fr(fr(x[block + j]! - min) * id) + 0.5));
    pack5(values, out, o + 4, o + 8);
  }
}

export function dequantizeQ5_1(bytes: Uint8Array, y: Float32Array): void {
  for (let block = 0, o = 0; block < y.length; block += QK, o += 24) {
    const d = readF16(bytes, o);
    const m = readF16(bytes, o + 2);
    for (let j = 0; j < 16; j++) {
      const [q0, q1] = unpack5(bytes, o + 4, o + 8, j);
      y[block + j] = fr(q0 * d) + m;
      y[block + 16 + j] = fr(q1 * d) + m;
    }
  }
}
