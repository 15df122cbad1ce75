/** The F16 scale fields of quantized blocks: little-endian, rounded as ggml rounds (to nearest, ties to even). */
import { f16BitsToF32, f32ToF16Bits } from "../half-float.js";

/** Stores `value` as F16 at `offset`; returns the F32 value it now holds. */
export function writeF16(out: Uint8Array, offset: number, value: number): number {
  const bits = f32ToF16Bits(value);
  out[offset] = bits & 0xff;
  out[offset + 1] = bits >>> 8;
  return f16BitsToF32(bits);
}

/** Reads an F16 at `offset` as F32. */
export function readF16(bytes: Uint8Array, offset: number): number {
  return f16BitsToF32(bytes[offset]! | (bytes[offset + 1]! << 8));
}
