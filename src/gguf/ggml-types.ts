/**
 * ggml tensor types as GGUF stores them: id, name, elements per block and bytes
 * per block. Sizes follow the block structs in ggml (ggml-common.h).
 */
export interface GgmlTypeInfo {
  id: number;
  name: string;
  /** Elements per block (1 for plain types). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
  /** Approximate bits per weight, for size estimates. */
  bitsPerWeight: number;
}

const table: Array<[number, string, number, number]> = [
  [0, "F32", 1, 4],
  [1, "F16", 1, 2],
  [2, "Q4_0", 32, 18],
  [3, "Q4_1", 32, 20],
  [6, "Q5_0", 32, 22],
  [7, "Q5_1", 32, 24],
  [8, "Q8_0", 32, 34],
  [9, "Q8_1", 32, 36],
  [10, "Q2_K", 256, 84],
  [11, "Q3_K", 256, 110],
  [12, "Q4_K", 256, 144],
  [13, "Q5_K", 256, 176],
  [14, "Q6_K", 256, 210],
  [15, "Q8_K", 256, 292],
  [16, "IQ2_XXS", 256, 66],
  [17, "IQ2_XS", 256, 74],
  [18, "IQ3_XXS", 256, 98],
  [19, "IQ1_S", 256, 50],
  [20, "IQ4_NL", 32, 18],
  [21, "IQ3_S", 256, 110],
  [22, "IQ2_S", 256, 82],
  [23, "IQ4_XS", 256, 136],
  [24, "I8", 1, 1],
  [25, "I16", 1, 2],
  [26, "I32", 1, 4],
  [27, "I64", 1, 8],
  [28, "F64", 1, 8],
  [29, "IQ1_M", 256, 56],
  [30, "BF16", 1, 2],
  [34, "TQ1_0", 256, 54],
  [35, "TQ2_0", 256, 66],
  [39, "MXFP4", 32, 17],
];

const byId = new Map<number, GgmlTypeInfo>();
const byName = new Map<string, GgmlTypeInfo>();
for (const [id, name, blockSize, typeSize] of table) {
  const info: GgmlTypeInfo = { id, name, blockSize, typeSize, bitsPerWeight: (typeSize * 8) / blockSize };
  byId.set(id, info);
  byName.set(name, info);
}

export const GGML_TYPE = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q4_K: 12,
  Q6_K: 14,
  BF16: 30,
} as const;

export function ggmlTypeInfo(id: number): GgmlTypeInfo | undefined {
  return byId.get(id);
}

export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return byName.get(name.toUpperCase());
}

/** Bytes a tensor of `elements` elements takes in `type`; undefined if it does not divide into blocks. */
export function tensorByteSize(type: GgmlTypeInfo, elements: number): number | undefined {
  if (elements % type.blockSize !== 0) return undefined;
  return (elements / type.blockSize) * type.typeSize;
}

/** llama.cpp's `general.file_type` values (enum llama_ftype) for the types we write. */
export const LLAMA_FILE_TYPE: Record<string, number> = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_Q4_0: 2,
  MOSTLY_Q4_1: 3,
  MOSTLY_Q8_0: 7,
  MOSTLY_Q5_0: 8,
  MOSTLY_Q5_1: 9,
  MOSTLY_Q4_K_M: 15,
  MOSTLY_Q6_K: 18,
  MOSTLY_BF16: 32,
};
