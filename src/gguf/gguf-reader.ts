/**
 * A pure-TypeScript GGUF reader (v2 and v3, little-endian) that never trusts the
 * file: every count, length and offset is checked against the bytes that exist
 * before anything is allocated, so a malformed file fails with an
 * `EdgeError("invalid_gguf")` naming what is wrong — never a crash, a hang or a
 * huge allocation. Nothing reaches llama.cpp before this reader accepted it.
 *
 * Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
 *
 * (Over 350 lines: one format's bounds-checked parser — header, metadata values
 * of every type, tensor infos and the data offset checks share one cursor and
 * one set of limits; split apart, each piece would have to re-check the others.)
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { EdgeError, toEdgeError } from "../errors.js";
import { ggmlTypeInfo, type GgmlTypeInfo } from "./ggml-types.js";
import { GGUF_MAGIC, GgufValueType, type GgufMetadata, type GgufScalar, type GgufValue } from "./gguf-values.js";
import { DECODED_COST, fixedCost, HeaderMemoryBudget, type HeaderMemoryLimits } from "./header-memory-budget.js";

export interface GgufTensorInfo {
  name: string;
  /** Dimensions as GGUF stores them: dims[0] is the row length (fastest varying). */
  dims: number[];
  type: GgmlTypeInfo;
  /** Offset relative to the start of the tensor data section. */
  offset: number;
  /** Absolute offset of the first byte in the file. */
  fileOffset: number;
  elementCount: number;
  byteSize: number;
}

export interface GgufFile {
  version: number;
  fileSize: number;
  alignment: number;
  metadata: GgufMetadata;
  /** The wire type of every metadata value (so a writer can round-trip it). */
  metadataTypes: Map<string, { type: GgufValueType; itemType?: GgufValueType }>;
  tensors: GgufTensorInfo[];
  /** Absolute offset where the tensor data section starts. */
  dataOffset: number;
}

/**
 * Limits that keep a hostile header from costing more than the file is worth.
 * On top of these, the decoded header has a memory budget (header-memory-budget.ts).
 */
export const GGUF_LIMITS = {
  maxKeyLength: 65_535,
  maxStringLength: 16 * 1024 * 1024,
  maxArrayLength: 1 << 26,
  maxKvCount: 1 << 20,
  maxTensorCount: 1 << 20,
  maxDims: 4,
  maxNestedArrayDepth: 2,
} as const;

/** Random access to the bytes of a file or buffer. */
interface ByteSource {
  readonly size: number;
  /** Returns exactly `length` bytes at `position` (the caller has checked the range). */
  read(position: number, length: number): Uint8Array;
}

class BufferSource implements ByteSource {
  constructor(private readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  read(position: number, length: number): Uint8Array {
    return this.bytes.subarray(position, position + length);
  }
}

/** Reads a file through a sliding 1 MiB window, so headers of any size parse in bounded memory. */
class FileSource implements ByteSource {
  private window = new Uint8Array(0);
  private windowStart = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}
  read(position: number, length: number): Uint8Array {
    const end = position + length;
    if (position >= this.windowStart && end <= this.windowStart + this.window.length) {
      return this.window.subarray(position - this.windowStart, end - this.windowStart);
    }
    const want = Math.min(Math.max(length, 1 << 20), this.size - position);
    const buffer = new Uint8Array(want);
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd, buffer, got, want - got, position + got);
      if (n === 0) break;
      got += n;
    }
    if (got < length) throw malformed(`file ended early at byte ${position + got} (it changed while being read?)`);
    this.window = buffer.subarray(0, got);
    this.windowStart = position;
    return this.window.subarray(0, length);
  }
}

function malformed(message: string, details?: Record<string, unknown>): EdgeError {
  return new EdgeError("invalid_gguf", message, details ? { details } : {});
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Called for every field the reader consumes: what it is, where, and how many bytes. */
export type GgufFieldTracer = (what: string, offset: number, length: number) => void;

class Cursor {
  position = 0;
  constructor(
    private readonly source: ByteSource,
    readonly budget: HeaderMemoryBudget,
    private readonly trace?: GgufFieldTracer,
  ) {}

  get remaining(): number {
    return this.source.size - this.position;
  }

  /** `length` bytes at the cursor; `itemSize` set means the caller traces the items itself. */
  private take(length: number, what: string, itemSize?: number): DataView {
    if (length > this.remaining) {
      throw malformed(
        `truncated: ${what} needs ${length} bytes at offset ${this.position}, but the file has ${this.remaining} left`,
      );
    }
    if (itemSize === undefined) this.trace?.(what, this.position, length);
    const bytes = this.source.read(this.position, length);
    this.position += length;
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u8(what: string): number {
    return this.take(1, what).getUint8(0);
  }
  i8(what: string): number {
    return this.take(1, what).getInt8(0);
  }
  u16(what: string): number {
    return this.take(2, what).getUint16(0, true);
  }
  i16(what: string): number {
    return this.take(2, what).getInt16(0, true);
  }
  u32(what: string): number {
    return this.take(4, what).getUint32(0, true);
  }
  i32(what: string): number {
    return this.take(4, what).getInt32(0, true);
  }
  f32(what: string): number {
    return this.take(4, what).getFloat32(0, true);
  }
  f64(what: string): number {
    return this.take(8, what).getFloat64(0, true);
  }
  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  u64Safe(what: string): number {
    const value = this.take(8, what).getBigUint64(0, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`${what} is absurdly large (${value})`);
    return Number(value);
  }
  /** A 64-bit metadata value: a number when exact, else a bigint. */
  u64Value(what: string): number | bigint {
    const value = this.take(8, what).getBigUint64(0, true);
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  i64Value(what: string): number | bigint {
    const value = this.take(8, what).getBigInt64(0, true);
    const safe = value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER);
    return safe ? Number(value) : value;
  }
  /** A string; its characters are charged to the budget (its fixed part is the container's to charge). */
  string(what: string, maxLength: number = GGUF_LIMITS.maxStringLength): string {
    const length = this.u64Safe(`length of ${what}`);
    if (length > maxLength) throw malformed(`${what} is ${length} bytes long (limit ${maxLength})`);
    if (length > this.remaining) this.take(length, what); // the truncation error, before any budget error
    this.budget.charge(length * DECODED_COST.stringPerByte, what);
    const view = this.take(length, what);
    return decoder.decode(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  }

  /**
   * Reads `count` fixed-size items into `out` a chunk at a time (one read per
   * 64 Ki items instead of one per item); a tracer still sees every item.
   */
  items(count: number, size: number, what: string, decode: (view: DataView, at: number) => GgufScalar, out: GgufScalar[]): void {
    const chunk = 1 << 16;
    for (let done = 0; done < count; ) {
      const n = Math.min(chunk, count - done);
      const start = this.position;
      const view = this.take(n * size, what, size);
      for (let i = 0; i < n; i++) out[done + i] = decode(view, i * size);
      if (this.trace) for (let i = 0; i < n; i++) this.trace(what, start + i * size, size);
      done += n;
    }
  }
}

/** Decoders for the fixed-size item types an array can be read in bulk. */
const BULK_DECODERS: Partial<Record<GgufValueType, [size: number, decode: (view: DataView, at: number) => GgufScalar]>> = {
  [GgufValueType.UINT8]: [1, (v, at) => v.getUint8(at)],
  [GgufValueType.INT8]: [1, (v, at) => v.getInt8(at)],
  [GgufValueType.UINT16]: [2, (v, at) => v.getUint16(at, true)],
  [GgufValueType.INT16]: [2, (v, at) => v.getInt16(at, true)],
  [GgufValueType.UINT32]: [4, (v, at) => v.getUint32(at, true)],
  [GgufValueType.INT32]: [4, (v, at) => v.getInt32(at, true)],
  [GgufValueType.FLOAT32]: [4, (v, at) => v.getFloat32(at, true)],
  [GgufValueType.FLOAT64]: [8, (v, at) => v.getFloat64(at, true)],
};

/** Smallest encoded size of one value of a type, to bound array counts by the bytes left. */
function minEncodedSize(type: GgufValueType): number {
  switch (type) {
    case GgufValueType.UINT8:
    case GgufValueType.INT8:
    case GgufValueType.BOOL:
      return 1;
    case GgufValueType.UINT16:
    case GgufValueType.INT16:
      return 2;
    case GgufValueType.UINT32:
    case GgufValueType.INT32:
    case GgufValueType.FLOAT32:
      return 4;
    case GgufValueType.UINT64:
    case GgufValueType.INT64:
    case GgufValueType.FLOAT64:
    case GgufValueType.STRING:
      return 8;
    case GgufValueType.ARRAY:
      return 12;
    default:
      return 1;
  }
}

function readValue(cursor: Cursor, type: number, key: string, depth: number): GgufValue {
  switch (type) {
    case GgufValueType.UINT8:
      return cursor.u8(key);
    case GgufValueType.INT8:
      return cursor.i8(key);
    case GgufValueType.UINT16:
      return cursor.u16(key);
    case GgufValueType.INT16:
      return cursor.i16(key);
    case GgufValueType.UINT32:
      return cursor.u32(key);
    case GgufValueType.INT32:
      return cursor.i32(key);
    case GgufValueType.FLOAT32:
      return cursor.f32(key);
    case GgufValueType.BOOL: {
      const b = cursor.u8(key);
      if (b > 1) throw malformed(`metadata "${key}" is a bool with value ${b} (must be 0 or 1)`);
      return b === 1;
    }
    case GgufValueType.STRING:
      return cursor.string(`metadata "${key}"`);
    case GgufValueType.UINT64:
      return cursor.u64Value(key);
    case GgufValueType.INT64:
      return cursor.i64Value(key);
    case GgufValueType.FLOAT64:
      return cursor.f64(key);
    case GgufValueType.ARRAY: {
      if (depth >= GGUF_LIMITS.maxNestedArrayDepth) throw malformed(`metadata "${key}" nests arrays too deeply`);
      const itemType = cursor.u32(`item type of ${key}`);
      if (!(itemType in GgufValueType) || typeof GgufValueType[itemType] !== "string") {
        throw malformed(`metadata "${key}" is an array of unknown type ${itemType}`);
      }
      const count = cursor.u64Safe(`length of ${key}`);
      if (count > GGUF_LIMITS.maxArrayLength) {
        throw malformed(`metadata "${key}" has ${count} items (limit ${GGUF_LIMITS.maxArrayLength})`);
      }
      if (count * minEncodedSize(itemType) > cursor.remaining) {
        throw malformed(`truncated: metadata "${key}" claims ${count} items but the file is too short`);
      }
      cursor.budget.charge(count * (DECODED_COST.slot + fixedCost(itemType)), `metadata "${key}" (${count} items)`);
      const items: GgufScalar[] = new Array(count);
      const bulk = BULK_DECODERS[itemType as GgufValueType];
      if (bulk) cursor.items(count, bulk[0], key, bulk[1], items);
      else for (let i = 0; i < count; i++) items[i] = readValue(cursor, itemType, key, depth + 1) as GgufScalar;
      return items as GgufValue;
    }
    default:
      throw malformed(`metadata "${key}" has unknown value type ${type}`);
  }
}

function parse(source: ByteSource, trace?: GgufFieldTracer, limits?: HeaderMemoryLimits): GgufFile {
  const cursor = new Cursor(source, new HeaderMemoryBudget(source.size, limits), trace);
  if (source.size < 24) throw malformed(`file is ${source.size} bytes, too short to be GGUF (header needs 24)`);
  const magic = cursor.u32("magic");
  if (magic !== GGUF_MAGIC) {
    if (magic === 0x47475546) throw malformed("big-endian GGUF files are not supported");
    throw malformed("not a GGUF file (the first four bytes are not \"GGUF\")");
  }
  const version = cursor.u32("version");
  if (version !== 2 && version !== 3) {
    throw malformed(`unsupported GGUF version ${version} (edgelm reads versions 2 and 3)`);
  }
  const tensorCount = cursor.u64Safe("tensor count");
  if (tensorCount > GGUF_LIMITS.maxTensorCount) throw malformed(`tensor count ${tensorCount} is absurd`);
  const kvCount = cursor.u64Safe("metadata count");
  if (kvCount > GGUF_LIMITS.maxKvCount) throw malformed(`metadata count ${kvCount} is absurd`);
  // Each key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes.
  if (kvCount * 13 > cursor.remaining) throw malformed(`truncated: ${kvCount} metadata entries cannot fit in the file`);
  cursor.budget.charge(kvCount * DECODED_COST.kvEntry, `${kvCount} metadata entries`);

  const metadata: GgufMetadata = Object.create(null);
  const metadataTypes = new Map<string, { type: GgufValueType; itemType?: GgufValueType }>();
  for (let i = 0; i < kvCount; i++) {
    const key = cursor.string(`metadata key #${i}`, GGUF_LIMITS.maxKeyLength);
    if (key.length === 0) throw malformed(`metadata key #${i} is empty`);
    // llama.cpp handles keys and names as C strings: a NUL would cut them short (and abort it).
    if (key.includes("\0")) throw malformed(`metadata key #${i} contains a NUL byte`);
    if (metadataTypes.has(key)) throw malformed(`metadata key "${key}" appears twice`);
    const type = cursor.u32(`type of ${key}`);
    cursor.budget.charge(fixedCost(type), `metadata "${key}"`);
    let itemType: GgufValueType | undefined;
    if (type === GgufValueType.ARRAY) {
      const start = cursor.position;
      itemType = cursor.u32(`item type of ${key}`);
      cursor.position = start;
    }
    const value = readValue(cursor, type, key, 0);
    metadataTypes.set(key, itemType === undefined ? { type } : { type, itemType });
    metadata[key] = value;
  }

  const alignmentValue = metadata["general.alignment"];
  let alignment = 32;
  if (alignmentValue !== undefined) {
    if (typeof alignmentValue !== "number" || !Number.isInteger(alignmentValue) || alignmentValue <= 0 ||
      (alignmentValue & (alignmentValue - 1)) !== 0 || alignmentValue > 1 << 20) {
      throw malformed(`general.alignment must be a power of two, got ${String(alignmentValue)}`);
    }
    alignment = alignmentValue;
  }

  // Each tensor info takes at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
  if (tensorCount * 24 > cursor.remaining) throw malformed(`truncated: ${tensorCount} tensor infos cannot fit in the file`);
  cursor.budget.charge(tensorCount * DECODED_COST.tensorInfo, `${tensorCount} tensor infos`);
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = cursor.string(`name of tensor #${i}`, GGUF_LIMITS.maxKeyLength);
    if (name.length === 0 || name.includes("\0")) throw malformed(`the name of tensor #${i} is empty or contains a NUL byte`);
    if (names.has(name)) throw malformed(`tensor "${name}" appears twice`);
    names.add(name);
    const nDims = cursor.u32(`dimension count of ${name}`);
    if (nDims < 1 || nDims > GGUF_LIMITS.maxDims) throw malformed(`tensor "${name}" has ${nDims} dimensions (1 to 4 allowed)`);
    const dims: number[] = [];
    let elementCount = 1;
    for (let d = 0; d < nDims; d++) {
      const n = cursor.u64Safe(`dimension ${d} of ${name}`);
      if (n === 0) throw malformed(`tensor "${name}" has a zero-sized dimension ${d}`);
      elementCount *= n;
      if (elementCount > Number.MAX_SAFE_INTEGER) throw malformed(`tensor "${name}" has an absurd element count`);
      dims.push(n);
    }
    const typeId = cursor.u32(`type of ${name}`);
    const type = ggmlTypeInfo(typeId);
    if (!type) throw malformed(`tensor "${name}" has unknown ggml type ${typeId}`);
    if (dims[0]! % type.blockSize !== 0) {
      throw malformed(`tensor "${name}": row length ${dims[0]} is not a multiple of ${type.name}'s block size ${type.blockSize}`);
    }
    const offset = cursor.u64Safe(`data offset of ${name}`);
    if (offset % alignment !== 0) throw malformed(`tensor "${name}" data offset ${offset} is not aligned to ${alignment}`);
    const byteSize = (elementCount / type.blockSize) * type.typeSize;
    tensors.push({ name, dims, type, offset, fileOffset: 0, elementCount, byteSize });
  }

  const dataOffset = Math.ceil(cursor.position / alignment) * alignment;
  for (const tensor of tensors) {
    tensor.fileOffset = dataOffset + tensor.offset;
    if (tensor.fileOffset + tensor.byteSize > source.size) {
      throw malformed(
        `truncated: tensor "${tensor.name}" needs bytes ${tensor.fileOffset}..${tensor.fileOffset + tensor.byteSize} but the file has ${source.size}`,
        { tensor: tensor.name, needed: tensor.fileOffset + tensor.byteSize, fileSize: source.size },
      );
    }
  }
  // Overlapping tensors mean a corrupted (or hostile) index.
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (prev.offset + prev.byteSize > sorted[i]!.offset) {
      throw malformed(`tensors "${prev.name}" and "${sorted[i]!.name}" overlap`);
    }
  }
  return { version, fileSize: source.size, alignment, metadata, metadataTypes, tensors, dataOffset };
}

/**
 * Parses a GGUF file held in memory; `trace` sees every header field (for tools that map a file's layout).
 * `limits` overrides the decoded header's memory budget (DEFAULT_HEADER_MEMORY_LIMITS).
 */
export function parseGguf(bytes: Uint8Array, trace?: GgufFieldTracer, limits?: HeaderMemoryLimits): GgufFile {
  return parse(new BufferSource(bytes), trace, limits);
}

/**
 * Reads and validates the header of a GGUF file on disk (tensor data is not read), in memory
 * bounded by the header budget: by default 32 MiB + 2 × the file's size, at most 128 MiB.
 */
export function readGguf(path: string, limits?: HeaderMemoryLimits): GgufFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw toEdgeError(error, `cannot open ${path}`);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new EdgeError("not_a_file", `${path} is a directory, not a GGUF file`);
    if (!stat.isFile()) throw new EdgeError("not_a_file", `${path} is not a regular file`);
    try {
      return parse(new FileSource(fd, stat.size), undefined, limits);
    } catch (error) {
      if (error instanceof EdgeError && error.code === "invalid_gguf") {
        throw new EdgeError("invalid_gguf", `${path}: ${error.message}`, error.details ? { details: error.details } : {});
      }
      throw error;
    }
  } catch (error) {
    throw toEdgeError(error, `cannot read ${path}`);
  } finally {
    closeSync(fd);
  }
}
