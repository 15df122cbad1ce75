/**
 * Which type each tensor gets when a model is quantized: llama.cpp's rules
 * (llama-quant.cpp) for the types edgelm writes, in one place. `edgelm
 * quantize`, `edgelm synth` and the size estimates of `edgelm inspect` all
 * plan with this, so what inspect predicts is what quantize writes.
 *
 * - Only 2-D (and higher) tensors whose name ends in "weight" are quantized;
 *   norms, biases and other 1-D tensors keep their type.
 * - For F16 (a conversion, not a quantization) that is the only rule.
 * - The output matrix (and token_embd when the embeddings are tied) gets Q6_K
 *   for 4- and 5-bit targets, as llama.cpp's default mixes do, unless
 *   `outputType` says otherwise.
 * - Q4_K is llama.cpp's Q4_K_M mix: attn_v and ffn_down of some layers get Q6_K.
 * - A row length that is not a whole number of blocks falls back to a type
 *   that fits (Q4_K → Q5_0, Q6_K → Q8_0), else to F16 — reported, never a crash.
 */
import { EdgeError } from "../../errors.js";
import { GGML_TYPE, ggmlTypeByName, ggmlTypeInfo, LLAMA_FILE_TYPE, type GgmlTypeInfo } from "../ggml-types.js";

/** The targets `edgelm quantize --type` accepts (f16: a plain conversion, no K-quant or output rules). */
export const QUANT_TARGETS = {
  f16: { type: GGML_TYPE.F16, fileType: LLAMA_FILE_TYPE.MOSTLY_F16!, label: "F16" },
  q8_0: { type: GGML_TYPE.Q8_0, fileType: LLAMA_FILE_TYPE.MOSTLY_Q8_0!, label: "Q8_0" },
  q6_k: { type: GGML_TYPE.Q6_K, fileType: LLAMA_FILE_TYPE.MOSTLY_Q6_K!, label: "Q6_K" },
  q5_1: { type: GGML_TYPE.Q5_1, fileType: LLAMA_FILE_TYPE.MOSTLY_Q5_1!, label: "Q5_1" },
  q5_0: { type: GGML_TYPE.Q5_0, fileType: LLAMA_FILE_TYPE.MOSTLY_Q5_0!, label: "Q5_0" },
  q4_k: { type: GGML_TYPE.Q4_K, fileType: LLAMA_FILE_TYPE.MOSTLY_Q4_K_M!, label: "Q4_K_M" },
  q4_1: { type: GGML_TYPE.Q4_1, fileType: LLAMA_FILE_TYPE.MOSTLY_Q4_1!, label: "Q4_1" },
  q4_0: { type: GGML_TYPE.Q4_0, fileType: LLAMA_FILE_TYPE.MOSTLY_Q4_0!, label: "Q4_0" },
} as const;

export type QuantTargetName = keyof typeof QUANT_TARGETS;

export interface QuantTarget {
  name: QuantTargetName;
  /** The main weight type. */
  type: GgmlTypeInfo;
  /** llama.cpp's general.file_type for this mix. */
  fileType: number;
  /** Display name, e.g. "Q4_K_M". */
  label: string;
}

/** Looks up a `--type` value (case-insensitive); a usage error lists the valid ones. */
export function quantTarget(name: string): QuantTarget {
  const key = name.trim().toLowerCase() as QuantTargetName;
  const entry = QUANT_TARGETS[key];
  if (!entry) {
    throw new EdgeError("usage", `unknown quantization type "${name}" (valid: ${Object.keys(QUANT_TARGETS).join(", ")})`, { param: "type" });
  }
  return { name: key, type: ggmlTypeInfo(entry.type)!, fileType: entry.fileType, label: entry.label };
}

/** Types a tensor may be written as with `--output-type`: every type edgelm can encode. */
export function outputTensorType(name: string): GgmlTypeInfo {
  const type = ggmlTypeByName(name.trim());
  if (!type || !WRITABLE_TYPES.has(type.id)) {
    throw new EdgeError("usage", `--output-type must be one of ${[...WRITABLE_TYPES].map((id) => ggmlTypeInfo(id)!.name.toLowerCase()).join(", ")} (got "${name}")`, {
      param: "output-type",
    });
  }
  return type;
}

/** Every type the quantizer can write. */
export const WRITABLE_TYPES: ReadonlySet<number> = new Set([
  GGML_TYPE.F32,
  GGML_TYPE.F16,
  GGML_TYPE.Q8_0,
  GGML_TYPE.Q6_K,
  GGML_TYPE.Q5_1,
  GGML_TYPE.Q5_0,
  GGML_TYPE.Q4_K,
  GGML_TYPE.Q4_1,
  GGML_TYPE.Q4_0,
]);

/** Why a tensor got its type. */
export type PlanReason =
  /** Quantized to the target type. */
  | "target"
  /** Not a quantizable weight (1-D, a norm, not named *weight): kept as it is. */
  | "kept"
  /** The output matrix (or tied token_embd) at its own type. */
  | "output"
  /** A more sensitive tensor of a K-quant mix, given more bits. */
  | "more_bits"
  /** The row length does not divide into blocks of the wanted type. */
  | "fallback";

export interface TensorTypeInput {
  name: string;
  dims: number[];
  type: GgmlTypeInfo;
}

export interface PlannedTensor {
  name: string;
  dims: number[];
  from: GgmlTypeInfo;
  to: GgmlTypeInfo;
  reason: PlanReason;
  /** For fallbacks: the type that did not fit. */
  wanted?: GgmlTypeInfo;
}

export interface PlanOptions {
  /** Type for output.weight (and token_embd when tied). Default: llama.cpp's rule. */
  outputType?: GgmlTypeInfo;
}

const type = (id: number): GgmlTypeInfo => ggmlTypeInfo(id)!;

/** llama.cpp's tensor_allows_quantization for the architectures edgelm meets. */
export function isQuantizableWeight(tensor: { name: string; dims: number[] }): boolean {
  if (tensor.dims.length < 2) return false;
  const name = tensor.name;
  if (!name.endsWith("weight")) return false;
  if (name.includes("_norm.weight")) return false;
  if (name.includes("ffn_gate_inp.weight")) return false;
  if (name === "position_embd.weight" || name === "token_types.weight") return false;
  return true;
}

/** llama.cpp's use_more_bits: the first and last eighth of layers, and every third in between. */
function useMoreBits(index: number, count: number): boolean {
  return index < Math.floor(count / 8) || index >= Math.floor((7 * count) / 8) || (index - Math.floor(count / 8)) % 3 === 2;
}

/** The block-size fallback of llama.cpp's tensor_type_fallback. */
function fitRow(rowLength: number, wanted: GgmlTypeInfo): GgmlTypeInfo {
  if (rowLength % wanted.blockSize === 0) return wanted;
  const smaller: Record<number, number> = { [GGML_TYPE.Q4_K]: GGML_TYPE.Q5_0, [GGML_TYPE.Q6_K]: GGML_TYPE.Q8_0 };
  const next = smaller[wanted.id];
  if (next !== undefined && rowLength % type(next).blockSize === 0) return type(next);
  return type(GGML_TYPE.F16);
}

/** The layer of a "blk.N." tensor, -1 for the others. */
function layerOf(name: string): number {
  const match = /^blk\.(\d+)\./.exec(name);
  return match ? Number(match[1]) : -1;
}

/**
 * Plans the type of every tensor for `target`, returned in the input's order.
 * The layer counters of the K-quant mix count tensors in llama.cpp's order
 * (by layer number, then by name), whatever order the file has.
 */
export function planTensorTypes(tensors: readonly TensorTypeInput[], target: QuantTarget, options: PlanOptions = {}): PlannedTensor[] {
  const tied = !tensors.some((t) => t.name === "output.weight");
  const attnVCount = tensors.filter((t) => t.name.includes("attn_v.weight")).length;
  const ffnDownCount = tensors.filter((t) => t.name.includes("ffn_down")).length;
  let attnVIndex = 0;
  let ffnDownIndex = 0;
  const mix = target.name === "q4_k";
  const order = tensors
    .map((t, i) => ({ i, layer: layerOf(t.name), name: t.name }))
    .sort((a, b) => a.layer - b.layer || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const planned: PlannedTensor[] = new Array(tensors.length);
  for (const { i } of order) {
    const tensor = tensors[i]!;
    const base = { name: tensor.name, dims: tensor.dims, from: tensor.type };
    if (!isQuantizableWeight(tensor)) {
      planned[i] = { ...base, to: tensor.type, reason: "kept" };
      continue;
    }
    if (target.type.blockSize === 1) {
      planned[i] = { ...base, to: target.type, reason: "target" };
      continue;
    }
    let wanted = target.type;
    let reason: PlanReason = "target";
    const isOutput = tensor.name === "output.weight" || (tied && tensor.name === "token_embd.weight");
    if (isOutput) {
      if (options.outputType) wanted = options.outputType;
      else if (tensor.dims[0]! % target.type.blockSize !== 0) wanted = type(GGML_TYPE.Q8_0);
      else if (target.type.id !== GGML_TYPE.Q8_0) wanted = type(GGML_TYPE.Q6_K);
      if (wanted.id !== target.type.id) reason = "output";
    } else if (tensor.name.includes("attn_v.weight")) {
      if (mix && useMoreBits(attnVIndex, attnVCount)) {
        wanted = type(GGML_TYPE.Q6_K);
        reason = "more_bits";
      }
      attnVIndex++;
    } else if (tensor.name.includes("ffn_down")) {
      if (mix && useMoreBits(ffnDownIndex, ffnDownCount)) {
        wanted = type(GGML_TYPE.Q6_K);
        reason = "more_bits";
      }
      ffnDownIndex++;
    }
    const to = fitRow(tensor.dims[0]!, wanted);
    planned[i] = to.id !== wanted.id ? { ...base, to, reason: "fallback", wanted } : { ...base, to, reason };
  }
  return planned;
}

/** Data bytes of a planned tensor. */
export function plannedByteSize(planned: PlannedTensor): number {
  const elements = planned.dims.reduce((a, b) => a * b, 1);
  return (elements / planned.to.blockSize) * planned.to.typeSize;
}
