/** GGUF metadata value types and the JS shapes edgelm reads them into. */

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** 64-bit integers that do not fit a JS number exactly are bigints. */
export type GgufScalar = number | bigint | boolean | string;
export type GgufValue = GgufScalar | GgufScalar[] | GgufScalar[][];
export type GgufMetadata = Record<string, GgufValue>;

/** A metadata value with its wire type, as the writer takes it. */
export type TypedGgufValue =
  | { type: GgufValueType.STRING; value: string }
  | { type: GgufValueType.BOOL; value: boolean }
  | { type: Exclude<GgufValueType, GgufValueType.STRING | GgufValueType.BOOL | GgufValueType.ARRAY>; value: number | bigint }
  | { type: GgufValueType.ARRAY; itemType: GgufValueType; value: GgufScalar[] };

/** Reads a metadata string, or undefined when absent or of another type. */
export function metaString(metadata: GgufMetadata, key: string): string | undefined {
  const value = metadata[key];
  return typeof value === "string" ? value : undefined;
}

/** Reads a metadata integer or float, or undefined when absent or not a number. */
export function metaNumber(metadata: GgufMetadata, key: string): number | undefined {
  const value = metadata[key];
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  return undefined;
}

/** Reads a metadata array, or undefined. */
export function metaArray(metadata: GgufMetadata, key: string): GgufScalar[] | undefined {
  const value = metadata[key];
  return Array.isArray(value) ? (value as GgufScalar[]) : undefined;
}
