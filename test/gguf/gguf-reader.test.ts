import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { isEdgeError } from "../../src/errors.js";
import { GGML_TYPE, ggmlTypeInfo } from "../../src/gguf/ggml-types.js";
import { parseGguf, readGguf } from "../../src/gguf/gguf-reader.js";
import { summarizeGguf } from "../../src/gguf/gguf-summary.js";
import { GgufValueType, type TypedGgufValue } from "../../src/gguf/gguf-values.js";
import { encodeGguf } from "../../src/gguf/gguf-writer.js";
import { TEST_MODEL } from "../helpers.js";

function assertInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isEdgeError(error), `expected an EdgeError, got ${String(error)}`);
    assert.equal(error.code, "invalid_gguf");
    assert.match(error.message, pattern);
    return true;
  });
}

describe("GGUF reader", () => {
  it("reads stories260K's header, metadata and tensor index", () => {
    const file = readGguf(TEST_MODEL);
    assert.equal(file.version, 3);
    assert.equal(file.metadata["general.architecture"], "llama");
    assert.equal(file.tensors.length, 48);
    const summary = summarizeGguf(file);
    assert.equal(summary.vocabSize, 512);
    assert.equal(summary.embeddingLength, 64);
    assert.equal(summary.blockCount, 5);
    assert.equal(summary.feedForwardLength, 172);
    assert.deepEqual(summary.tensorTypes, { F32: 48 });
    const down = file.tensors.find((t) => t.name === "blk.0.ffn_down.weight")!;
    assert.deepEqual(down.dims, [172, 64]);
    assert.equal(down.byteSize, 172 * 64 * 4);
    // The last tensor ends inside the file.
    const end = Math.max(...file.tensors.map((t) => t.fileOffset + t.byteSize));
    assert.ok(end <= file.fileSize);
  });

  it("round-trips every metadata type and tensor layout through the writer", async () => {
    const metadata = new Map<string, TypedGgufValue>([
      ["general.architecture", { type: GgufValueType.STRING, value: "llama" }],
      ["u8", { type: GgufValueType.UINT8, value: 200 }],
      ["i8", { type: GgufValueType.INT8, value: -100 }],
      ["u16", { type: GgufValueType.UINT16, value: 60000 }],
      ["i16", { type: GgufValueType.INT16, value: -30000 }],
      ["u32", { type: GgufValueType.UINT32, value: 4_000_000_000 }],
      ["i32", { type: GgufValueType.INT32, value: -2_000_000_000 }],
      ["f32", { type: GgufValueType.FLOAT32, value: 0.5 }],
      ["f64", { type: GgufValueType.FLOAT64, value: Math.PI }],
      ["bool", { type: GgufValueType.BOOL, value: true }],
      ["u64", { type: GgufValueType.UINT64, value: 2n ** 60n }],
      ["i64", { type: GgufValueType.INT64, value: -5 }],
      ["strings", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: ["a", "bé", ""] }],
      ["ints", { type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value: [1, -2, 3] }],
      ["general.alignment", { type: GgufValueType.UINT32, value: 64 }],
    ]);
    const F32 = ggmlTypeInfo(GGML_TYPE.F32)!;
    const Q8 = ggmlTypeInfo(GGML_TYPE.Q8_0)!;
    const bytes = await encodeGguf({
      metadata,
      tensors: [
        { name: "a", dims: [3], type: F32, data: new Uint8Array(new Float32Array([1, 2, 3]).buffer) },
        { name: "b", dims: [32, 2], type: Q8, data: new Uint8Array(68).fill(7) },
      ],
    });
    const file = parseGguf(bytes);
    assert.equal(file.alignment, 64);
    assert.equal(file.metadata.u8, 200);
    assert.equal(file.metadata.i8, -100);
    assert.equal(file.metadata.u32, 4_000_000_000);
    assert.equal(file.metadata.i32, -2_000_000_000);
    assert.equal(file.metadata.f64, Math.PI);
    assert.equal(file.metadata.bool, true);
    assert.equal(file.metadata.u64, 2n ** 60n);
    assert.equal(file.metadata.i64, -5);
    assert.deepEqual(file.metadata.strings, ["a", "bé", ""]);
    assert.deepEqual(file.metadata.ints, [1, -2, 3]);
    assert.deepEqual(file.metadataTypes.get("ints"), { type: GgufValueType.ARRAY, itemType: GgufValueType.INT32 });
    assert.equal(file.dataOffset % 64, 0);
    const [a, b] = file.tensors;
    assert.equal(a!.offset, 0);
    assert.equal(b!.offset, 64);
    assert.deepEqual([...new Float32Array(bytes.slice(a!.fileOffset, a!.fileOffset + 12).buffer)], [1, 2, 3]);
    assert.equal(b!.type.name, "Q8_0");
    assert.equal(b!.byteSize, 68);
    assert.deepEqual([...bytes.slice(b!.fileOffset, b!.fileOffset + 68)], new Array(68).fill(7));
  });

  it("refuses malformed files with a precise invalid_gguf error", () => {
    const good = new Uint8Array(readFileSync(TEST_MODEL));
    assertInvalid(() => parseGguf(new Uint8Array(10)), /too short/);
    const badMagic = good.slice();
    badMagic[0] = 0x58;
    assertInvalid(() => parseGguf(badMagic), /not a GGUF file/);
    const v1 = good.slice();
    new DataView(v1.buffer).setUint32(4, 1, true);
    assertInvalid(() => parseGguf(v1), /unsupported GGUF version 1/);
    assertInvalid(() => parseGguf(good.slice(0, 5000)), /truncated/);
    assertInvalid(() => parseGguf(good.slice(0, good.length - 1)), /truncated: tensor/);
    const hugeCount = good.slice();
    new DataView(hugeCount.buffer).setBigUint64(8, 2n ** 40n, true);
    assertInvalid(() => parseGguf(hugeCount), /tensor count .* absurd/);
    const hugeKv = good.slice();
    new DataView(hugeKv.buffer).setBigUint64(16, 1000n, true);
    assertInvalid(() => parseGguf(hugeKv), /cannot fit|truncated|unknown|twice|too|absurd/);
  });

  it("names the file and reports directories and missing files", () => {
    assert.throws(() => readGguf("/nonexistent/model.gguf"), (e: unknown) => isEdgeError(e) && e.code === "file_not_found");
    assert.throws(() => readGguf("/tmp"), (e: unknown) => isEdgeError(e) && e.code === "not_a_file");
  });
});
