/**
 * GGUF v3 writer. The header (metadata and tensor index) is encoded in memory;
 * tensor data is streamed tensor by tensor, so peak memory stays near the
 * largest tensor. Files are written to a temp file and renamed when complete.
 */
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { EdgeError, toEdgeError } from "../errors.js";
import { ggmlTypeInfo, type GgmlTypeInfo } from "./ggml-types.js";
import { GGUF_MAGIC, GgufValueType, type GgufScalar, type TypedGgufValue } from "./gguf-values.js";

export interface GgufTensorSpec {
  name: string;
  /** dims[0] is the row length, as in GGUF. */
  dims: number[];
  type: GgmlTypeInfo;
  /** The encoded bytes, or a producer that yields exactly byteSize bytes in chunks. */
  data: Uint8Array | (() => AsyncIterable<Uint8Array>);
}

export interface GgufDocument {
  /** Insertion order is kept in the file. */
  metadata: Map<string, TypedGgufValue>;
  tensors: GgufTensorSpec[];
}

const encoder = new TextEncoder();

/** Growable little-endian byte buffer for the header. */
class ByteWriter {
  private buffer = new Uint8Array(1 << 16);
  private view = new DataView(this.buffer.buffer);
  length = 0;

  private ensure(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.ensure(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  i8(v: number): void {
    this.ensure(1);
    this.view.setInt8(this.length, v);
    this.length += 1;
  }
  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  i16(v: number): void {
    this.ensure(2);
    this.view.setInt16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  f32(v: number): void {
    this.ensure(4);
    this.view.setFloat32(this.length, v, true);
    this.length += 4;
  }
  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }
  u64(v: number | bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  i64(v: number | bigint): void {
    this.ensure(8);
    this.view.setBigInt64(this.length, BigInt(v), true);
    this.length += 8;
  }
  string(s: string): void {
    const bytes = encoder.encode(s);
    this.u64(bytes.length);
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }
  pad(alignment: number): void {
    const target = Math.ceil(this.length / alignment) * alignment;
    this.ensure(target - this.length);
    this.buffer.fill(0, this.length, target);
    this.length = target;
  }
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

function writeScalar(out: ByteWriter, type: GgufValueType, value: GgufScalar, key: string): void {
  const num = (): number => {
    if (typeof value !== "number") throw new EdgeError("internal", `GGUF metadata "${key}": expected a number`);
    return value;
  };
  switch (type) {
    case GgufValueType.UINT8:
      return out.u8(num());
    case GgufValueType.INT8:
      return out.i8(num());
    case GgufValueType.UINT16:
      return out.u16(num());
    case GgufValueType.INT16:
      return out.i16(num());
    case GgufValueType.UINT32:
      return out.u32(num());
    case GgufValueType.INT32:
      return out.i32(num());
    case GgufValueType.FLOAT32:
      return out.f32(num());
    case GgufValueType.FLOAT64:
      return out.f64(num());
    case GgufValueType.UINT64:
      if (typeof value !== "number" && typeof value !== "bigint") throw new EdgeError("internal", `GGUF metadata "${key}": expected an integer`);
      return out.u64(value);
    case GgufValueType.INT64:
      if (typeof value !== "number" && typeof value !== "bigint") throw new EdgeError("internal", `GGUF metadata "${key}": expected an integer`);
      return out.i64(value);
    case GgufValueType.BOOL:
      return out.u8(value ? 1 : 0);
    case GgufValueType.STRING:
      if (typeof value !== "string") throw new EdgeError("internal", `GGUF metadata "${key}": expected a string`);
      return out.string(value);
    default:
      throw new EdgeError("internal", `GGUF metadata "${key}": cannot write value type ${type}`);
  }
}

/** Alignment from `general.alignment` when present, else GGUF's default 32. */
function alignmentOf(doc: GgufDocument): number {
  const entry = doc.metadata.get("general.alignment");
  if (!entry) return 32;
  const value = Number(entry.value);
  if (!Number.isInteger(value) || value <= 0 || (value & (value - 1)) !== 0) {
    throw new EdgeError("invalid_request", `general.alignment must be a power of two, got ${String(entry.value)}`);
  }
  return value;
}

export function tensorByteLength(spec: GgufTensorSpec): number {
  const elements = spec.dims.reduce((a, b) => a * b, 1);
  if (spec.dims[0]! % spec.type.blockSize !== 0) {
    throw new EdgeError(
      "invalid_request",
      `tensor "${spec.name}": row length ${spec.dims[0]} is not a multiple of ${spec.type.name}'s block size ${spec.type.blockSize}`,
    );
  }
  return (elements / spec.type.blockSize) * spec.type.typeSize;
}

/** Encodes the header, returning it (padded to the alignment) and each tensor's data offset. */
export function encodeGgufHeader(doc: GgufDocument): { header: Uint8Array; offsets: number[]; alignment: number; dataSize: number } {
  const alignment = alignmentOf(doc);
  const out = new ByteWriter();
  out.u32(GGUF_MAGIC);
  out.u32(3);
  out.u64(doc.tensors.length);
  out.u64(doc.metadata.size);
  for (const [key, entry] of doc.metadata) {
    out.string(key);
    out.u32(entry.type);
    if (entry.type === GgufValueType.ARRAY) {
      out.u32(entry.itemType);
      out.u64(entry.value.length);
      for (const item of entry.value) writeScalar(out, entry.itemType, item, key);
    } else {
      writeScalar(out, entry.type, entry.value, key);
    }
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const tensor of doc.tensors) {
    if (!ggmlTypeInfo(tensor.type.id)) throw new EdgeError("internal", `tensor "${tensor.name}": unknown type ${tensor.type.id}`);
    out.string(tensor.name);
    out.u32(tensor.dims.length);
    for (const d of tensor.dims) out.u64(d);
    out.u32(tensor.type.id);
    out.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(tensorByteLength(tensor) / alignment) * alignment;
  }
  out.pad(alignment);
  return { header: out.bytes(), offsets, alignment, dataSize: offset };
}

/** Encodes a whole document in memory (for small models: the demo model, tests). */
export async function encodeGguf(doc: GgufDocument): Promise<Uint8Array> {
  const { header, offsets, dataSize } = encodeGgufHeader(doc);
  const result = new Uint8Array(header.length + dataSize);
  result.set(header, 0);
  for (let i = 0; i < doc.tensors.length; i++) {
    const tensor = doc.tensors[i]!;
    let at = header.length + offsets[i]!;
    const end = at + tensorByteLength(tensor);
    for await (const chunk of chunksOf(tensor)) {
      if (at + chunk.length > end) throw new EdgeError("internal", `tensor "${tensor.name}" produced more bytes than its shape needs`);
      result.set(chunk, at);
      at += chunk.length;
    }
    if (at !== end) throw new EdgeError("internal", `tensor "${tensor.name}" produced ${at - (end - tensorByteLength(tensor))} of ${tensorByteLength(tensor)} bytes`);
  }
  return result;
}

async function* chunksOf(tensor: GgufTensorSpec): AsyncIterable<Uint8Array> {
  if (tensor.data instanceof Uint8Array) yield tensor.data;
  else yield* tensor.data();
}

/**
 * Writes a GGUF file: to `<dir>/.<name>.<random>.tmp`, fsync, then rename over `path`.
 * On any failure (ENOSPC included) the temp file is removed and nothing is left at `path`.
 * Returns the file size in bytes.
 */
export async function writeGguf(path: string, doc: GgufDocument): Promise<number> {
  const { header, offsets, alignment } = encodeGgufHeader(doc);
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  let handle;
  try {
    handle = await open(temp, "wx");
  } catch (error) {
    throw toEdgeError(error, `cannot write ${path}`);
  }
  try {
    await handle.write(header, 0, header.length, 0);
    let position = header.length;
    for (let i = 0; i < doc.tensors.length; i++) {
      const tensor = doc.tensors[i]!;
      const start = header.length + offsets[i]!;
      if (position < start) {
        await handle.write(new Uint8Array(start - position), 0, start - position, position);
        position = start;
      }
      const expected = tensorByteLength(tensor);
      let written = 0;
      for await (const chunk of chunksOf(tensor)) {
        written += chunk.length;
        if (written > expected) throw new EdgeError("internal", `tensor "${tensor.name}" produced more bytes than its shape needs`);
        await handle.write(chunk, 0, chunk.length, position);
        position += chunk.length;
      }
      if (written !== expected) throw new EdgeError("internal", `tensor "${tensor.name}" produced ${written} of ${expected} bytes`);
    }
    const end = Math.ceil(position / alignment) * alignment;
    if (end > position) await handle.write(new Uint8Array(end - position), 0, end - position, position);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
    return end;
  } catch (error) {
    await handle?.close().catch(() => {});
    await rm(temp, { force: true }).catch(() => {});
    throw toEdgeError(error, `cannot write ${path}`);
  }
}
