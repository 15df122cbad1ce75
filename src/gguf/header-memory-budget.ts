/**
 * The memory a GGUF header may cost once decoded. The reader charges every
 * metadata value, key and tensor info here *before* allocating it, using an
 * upper estimate of what V8 keeps for it, so a hostile header (a 2^26-item
 * array, millions of nested arrays, a flood of strings) is refused before it
 * costs more than its budget — not after it has filled memory.
 */
import { EdgeError } from "../errors.js";
import { GgufValueType } from "./gguf-values.js";

const MiB = 1024 * 1024;

/** How much decoded header memory a file may use: `floorBytes + perFileByte × file size`, at most `capBytes`. */
export interface HeaderMemoryLimits {
  /** Budget every file gets, whatever its size. Default 32 MiB. */
  floorBytes: number;
  /** Extra budget per byte of file. Default 2. */
  perFileByte: number;
  /** Hard cap, whatever the file's size. Default 128 MiB. */
  capBytes: number;
}

/**
 * Defaults: real models need far less (a 262,144-token vocabulary with its
 * scores and types and 280,147 merges, the largest in the wild, is charged
 * about 30 MiB; stories260K's header under 1 MiB), and a vocabulary-only
 * GGUF (no tensors) is charged about 3 × its size.
 */
export const DEFAULT_HEADER_MEMORY_LIMITS: HeaderMemoryLimits = { floorBytes: 32 * MiB, perFileByte: 2, capBytes: 128 * MiB };

/** Upper estimates of V8's heap use on 64-bit (bytes). */
export const DECODED_COST = {
  /** One array element or number. */
  slot: 8,
  /** A string's fixed part; its characters cost at most 2 bytes per UTF-8 byte (two-byte strings). */
  stringFixed: 24,
  stringPerByte: 2,
  /** An array's object and backing store headers. */
  arrayFixed: 64,
  /** A 64-bit integer beyond 2^53 becomes a BigInt. */
  bigint: 24,
  /** One metadata entry: its property, its wire-type record and map entry. */
  kvEntry: 160,
  /** One tensor info: object, dims array, type reference. */
  tensorInfo: 256,
} as const;

/** Fixed cost of one value of `type` beyond its slot (strings' characters and arrays' items are charged when read). */
export function fixedCost(type: number): number {
  switch (type) {
    case GgufValueType.STRING:
      return DECODED_COST.stringFixed;
    case GgufValueType.ARRAY:
      return DECODED_COST.arrayFixed;
    case GgufValueType.UINT64:
    case GgufValueType.INT64:
      return DECODED_COST.bigint;
    default:
      return 0;
  }
}

function mib(bytes: number): string {
  return (bytes / MiB).toFixed(bytes < 10 * MiB ? 1 : 0);
}

/** Tracks what a header has cost so far against its budget. */
export class HeaderMemoryBudget {
  /** The budget in bytes for this file. */
  readonly limitBytes: number;
  private used = 0;

  constructor(
    private readonly fileSize: number,
    private readonly limits: HeaderMemoryLimits = DEFAULT_HEADER_MEMORY_LIMITS,
  ) {
    this.limitBytes = Math.min(limits.capBytes, limits.floorBytes + limits.perFileByte * fileSize);
  }

  /** Bytes charged so far. */
  get usedBytes(): number {
    return this.used;
  }

  /** Charges `bytes` for `what`; throws `invalid_gguf` naming the budget when it would be exceeded. */
  charge(bytes: number, what: string): void {
    if (this.used + bytes <= this.limitBytes) {
      this.used += bytes;
      return;
    }
    throw new EdgeError(
      "invalid_gguf",
      `${what} would take about ${mib(this.used + bytes)} MiB of memory to read, over the header budget of ` +
        `${mib(this.limitBytes)} MiB for a ${mib(this.fileSize)} MiB file ` +
        `(${mib(this.limits.floorBytes)} MiB + ${this.limits.perFileByte} × the file's size, at most ${mib(this.limits.capBytes)} MiB)`,
      { details: { limit: "gguf_header_memory", budgetBytes: this.limitBytes, neededBytes: this.used + bytes, fileSize: this.fileSize } },
    );
  }
}
