/**
 * IEEE half (F16) and bfloat16 conversions, bit-exact with ggml: F32 → F16
 * rounds to nearest, ties to even (what the F16C instruction and ggml's
 * portable fallback both do); F16/BF16 → F32 is exact.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The F16 bit pattern nearest to `value` (ties to even; overflow → ±Inf; NaN stays NaN). */
export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 | (mantissa >>> 13) : 0);
  const e = exponent - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: units of 2^-24. The value is (1.mantissa) · 2^(e-15); shift out 14-e bits.
    const shift = 14 - e;
    if (shift > 24) return sign;
    const m = mantissa | 0x800000;
    let h = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa bumps the exponent, up to Inf: exactly IEEE rounding.
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** Every F16 bit pattern as an F32 value (256 KiB, built on first use). */
let f16Table: Float32Array | undefined;

export function f16Table32(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = decodeF16(h);
  f16Table = table;
  return table;
}

function decodeF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** The F32 value of an F16 bit pattern. */
export function f16BitsToF32(h: number): number {
  return f16Table32()[h & 0xffff]!;
}

/** F16 round trip: the F32 value ggml gets back after storing `value` as F16. */
export function roundToF16(value: number): number {
  return f16BitsToF32(f32ToF16Bits(value));
}

/** The F32 value of a bfloat16 bit pattern (its upper 16 bits). */
export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}
