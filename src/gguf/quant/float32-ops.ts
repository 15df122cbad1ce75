/**
 * The float32 arithmetic llama.cpp's reference quantizers do, reproduced in
 * JavaScript doubles. Every intermediate result goes through Math.fround:
 * one IEEE double operation on float32 inputs rounded to float32 is exactly
 * the float32 operation, so these kernels give the same bits as the C code
 * compiled without FMA contraction (x86-64's baseline, which ggml-base uses).
 */
import { f16BitsToF32, f32ToF16Bits } from "../half-float.js";

export const fr = Math.fround;

/** ggml's nearest_int: round half to even via the 1.5·2^23 trick (valid for |v| ≤ 4194303). */
export function nearestInt(value: number): number {
  return fr(value + 12582912) - 12582912;
}

/** C's roundf: halves round away from zero. */
export function roundHalfAway(value: number): number {
  return value < 0 ? -Math.floor(-value + 0.5) : Math.floor(value + 0.5);
}

/** Stores `value` as F16 (little-endian) at `offset`; returns the F32 value it now holds. */
export function writeF16(out: Uint8Array, offset: number, value: number): number {
  const bits = f32ToF16Bits(value);
  out[offset] = bits & 0xff;
  out[offset + 1] = bits >>> 8;
  return f16BitsToF32(bits);
}

/** Reads an F16 (little-endian) at `offset` as F32. */
export function readF16(bytes: Uint8Array, offset: number): number {
  return f16BitsToF32(bytes[offset]! | (bytes[offset + 1]! << 8));
}

/** The largest finite float32 (C's FLT_MAX). */
export const FLT_MAX = 3.4028234663852886e38;
