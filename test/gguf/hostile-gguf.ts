/**
 * Writes the hostile GGUF files of issue 24 item 7 without holding them in
 * memory: a header whose arrays would cost far more decoded than the file's
 * bytes. Both are well-formed as far as lengths go (nothing is truncated).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { GGUF_MAGIC, GgufValueType } from "../../src/gguf/gguf-values.js";

function header(key: string, type: GgufValueType, itemType: GgufValueType, count: number): Buffer {
  const keyBytes = Buffer.from(key);
  const b = Buffer.alloc(4 + 4 + 8 + 8 + 8 + keyBytes.length + 4 + 4 + 8);
  let at = 0;
  at = b.writeUInt32LE(GGUF_MAGIC, at);
  at = b.writeUInt32LE(3, at);
  at = b.writeBigUInt64LE(0n, at); // tensors
  at = b.writeBigUInt64LE(1n, at); // metadata entries
  at = b.writeBigUInt64LE(BigInt(keyBytes.length), at);
  at += keyBytes.copy(b, at);
  at = b.writeUInt32LE(type, at);
  at = b.writeUInt32LE(itemType, at);
  b.writeBigUInt64LE(BigInt(count), at);
  return b;
}

/** Writes `total` bytes produced by `fill` (called per chunk) after `head`. */
function writeStreamed(path: string, head: Buffer, total: number, chunk: Buffer): void {
  const fd = openSync(path, "w");
  try {
    writeSync(fd, head);
    for (let left = total; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, left));
  } finally {
    closeSync(fd);
  }
}

/** 64 MiB: one metadata array of 2^26 u8 items (1.2–1.3 GB and 15 s to reject before the header budget). */
export function writeHugeU8ArrayGguf(path: string): void {
  const count = 1 << 26;
  writeStreamed(path, header("tokenizer.ggml.token_type", GgufValueType.ARRAY, GgufValueType.UINT8, count), count, Buffer.alloc(1 << 20, 1));
}

/** 256 MiB: an array of 2^24 arrays of 4 u8 items each (2.96 GB and 64 s to reject before the header budget). */
export function writeNestedArraysGguf(path: string): void {
  const count = 1 << 24;
  const inner = Buffer.alloc(16);
  inner.writeUInt32LE(GgufValueType.UINT8, 0);
  inner.writeBigUInt64LE(4n, 4);
  inner.fill(7, 12);
  const chunk = Buffer.alloc(16 << 16);
  for (let i = 0; i < 1 << 16; i++) inner.copy(chunk, i * 16);
  writeStreamed(path, header("tokenizer.ggml.merges", GgufValueType.ARRAY, GgufValueType.ARRAY, count), count * 16, chunk);
}
