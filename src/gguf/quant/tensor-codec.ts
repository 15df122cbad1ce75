/**
 * One codec per ggml type edgelm reads or writes: `decode` turns a tensor's
 * bytes into F32 values (as ggml's to_float does), `encode` turns F32 values
 * into the type's bytes (ggml's reference quantizers for quantized types).
 */
import { EdgeError } from "../../errors.js";
import { GGML_TYPE, ggmlTypeInfo, type GgmlTypeInfo } from "../ggml-types.js";
import { bf16BitsToF32, f16Table32, f32ToF16Bits } from "../half-float.js";
import { dequantizeQ4_K, dequantizeQ6_K, quantizeQ4_K, quantizeQ6_K } from "./k-quants.js";
import {
  dequantizeQ4_0,
  dequantizeQ4_1,
  dequantizeQ5_0,
  dequantizeQ5_1,
  dequantizeQ8_0,
  quantizeQ4_0,
  quantizeQ4_1,
  quantizeQ5_0,
  quantizeQ5_1,
  quantizeQ8_0,
} from "./legacy-quants.js";

export interface TensorCodec {
  type: GgmlTypeInfo;
  /** Bytes (a whole number of blocks) → F32 values (y.length elements). */
  decode(bytes: Uint8Array, y: Float32Array): void;
  /** F32 values (a whole number of blocks) → bytes; absent for types edgelm only reads. */
  encode?(x: Float32Array, out: Uint8Array): void;
}

/** A Float32Array over the same bytes when aligned, else a copy. */
function floatsOf(bytes: Uint8Array): Float32Array {
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Float32Array(bytes.slice().buffer);
}

function halvesOf(bytes: Uint8Array): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  return new Uint16Array(bytes.slice().buffer);
}

const plain: TensorCodec[] = [
  {
    type: ggmlTypeInfo(GGML_TYPE.F32)!,
    decode: (bytes, y) => y.set(floatsOf(bytes)),
    encode: (x, out) => out.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)),
  },
  {
    type: ggmlTypeInfo(GGML_TYPE.F16)!,
    decode: (bytes, y) => {
      const table = f16Table32();
      const halves = halvesOf(bytes);
      for (let i = 0; i < halves.length; i++) y[i] = table[halves[i]!]!;
    },
    encode: (x, out) => {
      for (let i = 0; i < x.length; i++) {
        const h = f32ToF16Bits(x[i]!);
        out[2 * i] = h & 0xff;
        out[2 * i + 1] = h >>> 8;
      }
    },
  },
  {
    type: ggmlTypeInfo(GGML_TYPE.BF16)!,
    decode: (bytes, y) => {
      const halves = halvesOf(bytes);
      for (let i = 0; i < halves.length; i++) y[i] = bf16BitsToF32(halves[i]!);
    },
  },
];

const quantized: Array<[number, TensorCodec["decode"], TensorCodec["encode"]]> = [
  [GGML_TYPE.Q8_0, dequantizeQ8_0, quantizeQ8_0],
  [GGML_TYPE.Q4_0, dequantizeQ4_0, quantizeQ4_0],
  [GGML_TYPE.Q4_1, dequantizeQ4_1, quantizeQ4_1],
  [GGML_TYPE.Q5_0, dequantizeQ5_0, quantizeQ5_0],
  [GGML_TYPE.Q5_1, dequantizeQ5_1, quantizeQ5_1],
  [GGML_TYPE.Q4_K, dequantizeQ4_K, quantizeQ4_K],
  [GGML_TYPE.Q6_K, dequantizeQ6_K, quantizeQ6_K],
];

const codecs = new Map<number, TensorCodec>();
for (const codec of plain) codecs.set(codec.type.id, codec);
for (const [id, decode, encode] of quantized) codecs.set(id, { type: ggmlTypeInfo(id)!, decode, ...(encode ? { encode } : {}) });

/** The codec of a ggml type, or undefined when edgelm cannot read it. */
export function tensorCodec(typeId: number): TensorCodec | undefined {
  return codecs.get(typeId);
}

/** Quantizes F32 values to `type`, returning the new bytes. */
export function encodeTensor(type: GgmlTypeInfo, x: Float32Array): Uint8Array {
  const codec = codecs.get(type.id);
  if (!codec?.encode) throw new EdgeError("internal", `no encoder for ${type.name}`);
  const out = new Uint8Array((x.length / type.blockSize) * type.typeSize);
  codec.encode(x, out);
  return out;
}

/** Dequantizes a whole number of blocks of `type` to F32. */
export function decodeTensor(type: GgmlTypeInfo, bytes: Uint8Array): Float32Array {
  const codec = codecs.get(type.id);
  if (!codec) throw new EdgeError("internal", `no decoder for ${type.name}`);
  const y = new Float32Array((bytes.length / type.typeSize) * type.blockSize);
  codec.decode(bytes, y);
  return y;
}
