/**
 * Synthetic llama models: real shapes, random weights, a byte-level
 * vocabulary. For benchmarks and capacity planning ("how fast would a 7B
 * Q4_0 run on this board?") without downloading gigabytes.
 *
 * - The vocabulary is SentencePiece-style ("llama" tokenizer): <unk>, <s>,
 *   </s>, the 256 byte tokens <0x00>..<0xFF> (llama.cpp's byte fallback needs
 *   every one), then filler pieces up to the shape's real vocabulary size so
 *   the embedding and output matrices have their real cost. No piece is two
 *   characters long, so the tokenizer never merges and every text encodes as
 *   its UTF-8 bytes.
 * - Weights are random: F16 values drawn from N(0, 0.02²); quantized types
 *   are random blocks with small scales. Speed depends on shape and type, not
 *   on the values. Tensor types follow the quantizer's plan (tensor-type-plan.ts),
 *   so a synthetic Q4_0 file has the same type mix `edgelm quantize` writes.
 * - Tensors are generated chunk by chunk while the file is written: a 7B model
 *   needs a few MB of memory, not 14 GB. Same shape, type and seed → same bytes.
 */
import { EdgeError } from "../errors.js";
import { GGML_TYPE, ggmlTypeInfo, type GgmlTypeInfo } from "./ggml-types.js";
import { GgufValueType, type TypedGgufValue } from "./gguf-values.js";
import { writeGguf, type GgufDocument, type GgufTensorSpec } from "./gguf-writer.js";
import { f32ToF16Bits } from "./half-float.js";
import { llamaModelMetadata } from "./llama-metadata.js";
import { planTensorTypes, QUANT_TARGETS, quantTarget, type QuantTargetName } from "./quant/tensor-type-plan.js";
import { MIN_SYNTHETIC_VOCAB, syntheticParameterCount, type SyntheticShape } from "./synthetic-shape.js";

/** Weight types `edgelm synth --type` writes: the quantizer's targets. */
export const SYNTHETIC_TYPES = Object.keys(QUANT_TARGETS) as QuantTargetName[];
export type SyntheticType = QuantTargetName;

export interface SyntheticModelOptions {
  shape: SyntheticShape;
  /** Weight type of the matrices. Default "f16". */
  type?: SyntheticType;
  /** Seed of the random weights. Default 1. */
  seed?: number;
  /** Called as data is produced: bytes of tensor data written so far, and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** Standard deviation of the random weights (the usual llama initialisation). */
const WEIGHT_STD = 0.02;
/** Bytes generated per chunk while streaming a tensor. */
const CHUNK_BYTES = 4 << 20;

const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;

/** The byte-level vocabulary of `size` tokens (ids 0 <unk>, 1 <s>, 2 </s>, 3..258 bytes). */
export function syntheticVocabulary(size: number): { tokens: string[]; scores: number[]; types: number[] } {
  if (size < MIN_SYNTHETIC_VOCAB) throw new EdgeError("usage", `a synthetic vocabulary needs at least ${MIN_SYNTHETIC_VOCAB} tokens`);
  const tokens = ["<unk>", "<s>", "</s>"];
  const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(TOKEN_TYPE.byte);
  }
  // Filler pieces ("▁w259", ...): at least 3 characters, so no merge ever reaches them.
  for (let id = tokens.length; id < size; id++) {
    tokens.push(`\u2581w${id}`);
    types.push(TOKEN_TYPE.normal);
  }
  return { tokens, scores: new Array<number>(size).fill(0), types };
}

/** A fast deterministic 32-bit generator (xorshift32); weights need speed, not crypto. */
class Xorshift32 {
  private state: number;
  constructor(seed: number) {
    this.state = (seed >>> 0) || 0x9e3779b9;
  }
  fill(out: Uint32Array): void {
    let x = this.state;
    for (let i = 0; i < out.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x >>> 0;
    }
    this.state = x;
  }
}

/** Mixes the model seed and a tensor index into a per-tensor seed (so tensors are independent). */
function tensorSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0 || 1;
}

/** 4096 F16 values spanning N(0, std²) by inverse CDF; 12 random bits pick one. */
let normalF16: Uint16Array | undefined;
function normalF16Table(): Uint16Array {
  if (normalF16) return normalF16;
  const table = new Uint16Array(4096);
  for (let i = 0; i < 4096; i++) table[i] = f32ToF16Bits(WEIGHT_STD * inverseNormal((i + 0.5) / 4096));
  normalF16 = table;
  return table;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
function inverseNormal(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628274631];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - low) return -inverseNormal(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/**
 * Where each quantized block type keeps its F16 scale fields, and the values
 * they get: small enough that dequantized weights stay near ±0.05 whatever the
 * random quants are. Everything else in a block is random bytes.
 */
const RANDOM_BLOCK_SCALES: Record<number, Array<[offset: number, value: number]>> = {
  [GGML_TYPE.Q8_0]: [[0, 0.0004]],
  [GGML_TYPE.Q4_0]: [[0, 0.005]],
  [GGML_TYPE.Q4_1]: [[0, 0.005], [2, -0.04]],
  [GGML_TYPE.Q5_0]: [[0, 0.0025]],
  [GGML_TYPE.Q5_1]: [[0, 0.0025], [2, -0.04]],
  [GGML_TYPE.Q4_K]: [[0, 0.00005], [2, 0.0006]],
  [GGML_TYPE.Q6_K]: [[208, 0.00001]],
};

/** Yields a tensor's random data in chunks of whole blocks (F32 tensors: norms, all ones). */
function randomTensorData(type: GgmlTypeInfo, elements: number, seed: number, onBytes: (n: number) => void): () => AsyncIterable<Uint8Array> {
  return async function* () {
    const totalBytes = (elements / type.blockSize) * type.typeSize;
    if (type.id === GGML_TYPE.F32) {
      // Norm weights: ones, as a freshly initialised RMSNorm has.
      const chunk = new Float32Array(elements).fill(1);
      onBytes(totalBytes);
      yield new Uint8Array(chunk.buffer);
      return;
    }
    const rng = new Xorshift32(seed);
    const unit = type.id === GGML_TYPE.F16 ? 4 : type.typeSize * 4; // whole blocks and whole u32 words
    const chunkBytes = Math.max(unit, Math.floor(CHUNK_BYTES / unit) * unit);
    const table = type.id === GGML_TYPE.F16 ? normalF16Table() : undefined;
    const scales = RANDOM_BLOCK_SCALES[type.id]?.map(([offset, value]) => [offset, f32ToF16Bits(value)] as const);
    if (!table && !scales) throw new EdgeError("internal", `synthetic weights of type ${type.name} are not supported`);
    for (let done = 0; done < totalBytes; ) {
      const length = Math.min(chunkBytes, totalBytes - done);
      // A fresh buffer per chunk: the consumer may still hold the previous one.
      const words = new Uint32Array(Math.ceil(length / 4));
      rng.fill(words);
      const bytes = new Uint8Array(words.buffer, 0, length);
      if (table) {
        const halves = new Uint16Array(words.buffer, 0, length / 2);
        for (let i = 0; i < halves.length; i += 2) {
          const r = words[i >>> 1]!;
          halves[i] = table[r & 0xfff]!;
          if (i + 1 < halves.length) halves[i + 1] = table[(r >>> 16) & 0xfff]!;
        }
      } else {
        for (let block = 0; block < length; block += type.typeSize) {
          for (const [offset, bits] of scales!) {
            bytes[block + offset] = bits & 0xff;
            bytes[block + offset + 1] = bits >>> 8;
          }
        }
      }
      done += length;
      onBytes(length);
      yield bytes;
    }
  };
}

const u32 = (value: number): TypedGgufValue => ({ type: GgufValueType.UINT32, value });
const str = (value: string): TypedGgufValue => ({ type: GgufValueType.STRING, value });

/** The tensors of a llama model of this shape, in file order, with their F16/F32 types. */
function llamaTensorLayout(shape: SyntheticShape): Array<{ name: string; dims: number[] }> {
  const headDim = shape.embedding / shape.heads;
  const kvDim = headDim * shape.kvHeads;
  const e = shape.embedding;
  const tensors: Array<{ name: string; dims: number[] }> = [{ name: "token_embd.weight", dims: [e, shape.vocab] }];
  for (let layer = 0; layer < shape.layers; layer++) {
    const p = `blk.${layer}.`;
    tensors.push(
      { name: `${p}attn_norm.weight`, dims: [e] },
      { name: `${p}attn_q.weight`, dims: [e, e] },
      { name: `${p}attn_k.weight`, dims: [e, kvDim] },
      { name: `${p}attn_v.weight`, dims: [e, kvDim] },
      { name: `${p}attn_output.weight`, dims: [e, e] },
      { name: `${p}ffn_norm.weight`, dims: [e] },
      { name: `${p}ffn_gate.weight`, dims: [e, shape.feedForward] },
      { name: `${p}ffn_up.weight`, dims: [e, shape.feedForward] },
      { name: `${p}ffn_down.weight`, dims: [shape.feedForward, e] },
    );
  }
  tensors.push({ name: "output_norm.weight", dims: [e] });
  if (!shape.tiedEmbeddings) tensors.push({ name: "output.weight", dims: [e, shape.vocab] });
  return tensors;
}

/** The GGUF document of a synthetic model; tensor data is produced while it is written. */
export function buildSyntheticModel(options: SyntheticModelOptions): GgufDocument & { dataBytes: number; parameterCount: number } {
  const { shape } = options;
  const typeName = options.type ?? "f16";
  const seed = options.seed ?? 1;
  const F32 = ggmlTypeInfo(GGML_TYPE.F32)!;
  const F16 = ggmlTypeInfo(GGML_TYPE.F16)!;
  const layout = llamaTensorLayout(shape).map((t) => ({ ...t, type: t.dims.length === 1 ? F32 : F16 }));
  const target = quantTarget(typeName);
  const fileType = target.fileType;
  const types = planTensorTypes(layout, target).map((p) => p.to);
  const vocab = syntheticVocabulary(shape.vocab);
  const description = shape.basedOn ? `the ${shape.basedOn} shape` : "a custom shape";
  const metadata = new Map<string, TypedGgufValue>([
    ["general.architecture", str("llama")],
    ["general.name", str(`edgelm synthetic ${shape.name} ${typeName.toUpperCase()}`)],
    ["general.description", str(`Random weights in ${description}, made by edgelm synth for benchmarks. It generates noise.`)],
    ["general.file_type", u32(fileType)],
    ...(typeName !== "f16" ? ([["general.quantization_version", u32(2)]] as const) : []),
    ["general.alignment", u32(32)],
    ["edgelm.synthetic.seed", u32(seed >>> 0)],
    ...llamaModelMetadata(shape, vocab),
  ]);
  let dataBytes = 0;
  for (let i = 0; i < layout.length; i++) {
    const elements = layout[i]!.dims.reduce((a, b) => a * b, 1);
    dataBytes += (elements / types[i]!.blockSize) * types[i]!.typeSize;
  }
  let done = 0;
  const onBytes = (n: number): void => {
    done += n;
    options.onProgress?.(done, dataBytes);
  };
  const tensors: GgufTensorSpec[] = layout.map((t, i) => {
    const elements = t.dims.reduce((a, b) => a * b, 1);
    return { name: t.name, dims: t.dims, type: types[i]!, data: randomTensorData(types[i]!, elements, tensorSeed(seed, i), onBytes) };
  });
  return { metadata, tensors, dataBytes, parameterCount: syntheticParameterCount(shape) };
}

export interface SyntheticModelResult {
  path: string;
  fileSize: number;
  parameterCount: number;
  shape: SyntheticShape;
  type: SyntheticType;
  tensorTypes: Record<string, number>;
}

/** Writes a synthetic model to `path` (streamed, via a temp file renamed when complete). */
export async function writeSyntheticModel(path: string, options: SyntheticModelOptions): Promise<SyntheticModelResult> {
  const doc = buildSyntheticModel(options);
  const fileSize = await writeGguf(path, doc);
  const tensorTypes: Record<string, number> = {};
  for (const t of doc.tensors) tensorTypes[t.type.name] = (tensorTypes[t.type.name] ?? 0) + 1;
  return { path, fileSize, parameterCount: doc.parameterCount, shape: options.shape, type: options.type ?? "f16", tensorTypes };
}
