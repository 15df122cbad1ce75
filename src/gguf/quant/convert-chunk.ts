/**
 * Converts a run of whole blocks from one ggml type to another through F32:
 * decode (dequantize), check every value is finite, encode (quantize). The
 * unit of work the quantizer hands to its worker threads.
 */
import { ggmlTypeInfo } from "../ggml-types.js";
import { tensorCodec } from "./tensor-codec.js";

export type ConvertOutcome = { ok: true; bytes: Uint8Array } | { ok: false; nonFiniteAt: number } | { ok: false; message: string };

/**
 * @param fromType ggml type id of `bytes`
 * @param toType ggml type id to produce
 * @param bytes a whole number of `fromType` blocks whose element count is a whole number of `toType` blocks
 */
export function convertChunk(fromType: number, toType: number, bytes: Uint8Array): ConvertOutcome {
  const from = ggmlTypeInfo(fromType);
  const to = ggmlTypeInfo(toType);
  const decoder = tensorCodec(fromType);
  const encoder = tensorCodec(toType);
  if (!from || !to || !decoder || !encoder?.encode) return { ok: false, message: `cannot convert type ${fromType} to ${toType}` };
  const elements = (bytes.length / from.typeSize) * from.blockSize;
  const values = new Float32Array(elements);
  decoder.decode(bytes, values);
  for (let i = 0; i < elements; i++) {
    // x - x is 0 for every finite x and NaN for NaN and ±Inf.
    if (values[i]! - values[i]! !== 0) return { ok: false, nonFiniteAt: i };
  }
  const out = new Uint8Array((elements / to.blockSize) * to.typeSize);
  encoder.encode(values, out);
  return { ok: true, bytes: out };
}
