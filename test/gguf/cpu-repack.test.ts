/**
 * Which weights get a second copy per CPU and engine (cpu-repack.ts), and what
 * the mmap choice does to the estimate: AMX takes more types than the AVX2
 * repack (Q8_0 with its compensation bytes, F16), a tied output is copied
 * beside the embedding it duplicates, and reading the file instead of mapping
 * it keeps one copy of every replaced matrix. Measured against real runners in
 * test/server/memory-estimate-measured.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { engineCpuFeatures } from "../../src/engine/weight-residency.js";
import { chooseMmap } from "../../src/gguf/memory-estimate.js";
import { readCpuFeatures, weightCopies, type CpuFeatures } from "../../src/gguf/cpu-repack.js";
import type { GgufFile, GgufTensorInfo } from "../../src/gguf/gguf-reader.js";

const BYTES_PER_32: Record<string, number> = { Q4_0: 18, Q8_0: 34, F16: 64, F32: 128 };

function tensor(name: string, type: string, rowLength: number, rows: number): GgufTensorInfo {
  const byteSize = (rowLength * rows * BYTES_PER_32[type]!) / 32;
  return { name, dims: [rowLength, rows], type: { name: type } as GgufTensorInfo["type"], offset: 0, fileOffset: 0, elementCount: rowLength * rows, byteSize };
}

function model(type: string, tiedOutput: boolean): GgufFile {
  const tensors = [
    tensor("token_embd.weight", "Q8_0", 576, 1024),
    tensor("blk.0.attn_q.weight", type, 576, 576),
    tensor("blk.0.ffn_up.weight", type, 576, 1536),
    { ...tensor("blk.0.attn_norm.weight", "F32", 576, 1), dims: [576] },
  ];
  if (!tiedOutput) tensors.push(tensor("output.weight", type, 576, 1024));
  return { version: 3, fileSize: 0, alignment: 32, metadata: new Map() as never, metadataTypes: new Map(), tensors, dataOffset: 0 };
}

const x64 = (flags: Partial<CpuFeatures>): CpuFeatures => ({ arch: "x64", avx2: true, avx512: false, dotprod: false, i8mm: false, amx: false, ...flags });
const bytes = (file: GgufFile, name: string): number => file.tensors.find((t) => t.name === name)!.byteSize;

describe("weight copies per CPU", () => {
  it("AVX2 repacks Q4_0 matrices, not Q8_0; a tied output is copied only when its type is repacked", () => {
    const q4 = model("Q4_0", false);
    const matrices = bytes(q4, "blk.0.attn_q.weight") + bytes(q4, "blk.0.ffn_up.weight") + bytes(q4, "output.weight");
    assert.deepEqual(weightCopies(q4, x64({})), { copyBytes: matrices, replacedBytes: matrices });
    assert.deepEqual(weightCopies(model("Q8_0", false), x64({})), { copyBytes: 0, replacedBytes: 0 });
    // The tied output is the Q8_0 embedding, which AVX2 does not repack.
    const tied = model("Q4_0", true);
    assert.equal(weightCopies(tied, x64({})).copyBytes, bytes(tied, "blk.0.attn_q.weight") + bytes(tied, "blk.0.ffn_up.weight"));
  });

  it("AMX copies Q8_0 with 4 compensation bytes per 32 values, and a tied output beside the embedding it still reads", () => {
    const q8 = model("Q8_0", true);
    const embedding = bytes(q8, "token_embd.weight");
    const matrices = bytes(q8, "blk.0.attn_q.weight") + bytes(q8, "blk.0.ffn_up.weight");
    const values = 576 * 576 + 576 * 1536 + 576 * 1024;
    const copies = weightCopies(q8, x64({ avx512: true, amx: true }));
    assert.equal(copies.copyBytes, matrices + embedding + (values / 32) * 4);
    assert.equal(copies.replacedBytes, matrices, "the embedding's rows are still looked up: its copy replaces nothing");
    // F16 goes to AMX too (row length a multiple of 16), unchanged in size.
    const f16 = model("F16", false);
    assert.equal(weightCopies(f16, x64({ amx: true })).copyBytes, bytes(f16, "blk.0.attn_q.weight") + bytes(f16, "blk.0.ffn_up.weight") + bytes(f16, "output.weight"));
    assert.equal(weightCopies(f16, x64({})).copyBytes, 0);
  });

  it("engine.mmap auto maps a model only when nothing of it is copied; on and off are obeyed", () => {
    assert.equal(chooseMmap("auto", 0), true);
    assert.equal(chooseMmap(undefined, 1), false);
    assert.equal(chooseMmap("on", 1), true);
    assert.equal(chooseMmap("off", 0), false);
  });

  it("a llama-server that engine build made without AMX is not credited with AMX copies", () => {
    const home = mkdtempSync(join(tmpdir(), "edgelm-amx-"));
    try {
      const binary = join(home, "bin", "llama-server");
      const record = (amx: string) => ({ backend: "llama-server", binary: "/bin/sh", cmakeOptions: { GGML_AVX512: "ON", GGML_AMX_INT8: amx } });
      writeFileSync(join(home, "engine.json"), JSON.stringify(record("OFF")));
      const cpu = x64({ avx512: true, amx: true });
      assert.equal(engineCpuFeatures({ backend: "llama-server", llamaServer: binary }, cpu).amx, false);
      writeFileSync(join(home, "engine.json"), JSON.stringify(record("ON")));
      assert.equal(engineCpuFeatures({ backend: "llama-server", llamaServer: binary }, cpu).amx, true);
      assert.equal(engineCpuFeatures({ backend: "node-llama-cpp" }, cpu).amx, true, "node-llama-cpp's prebuilt variants use AMX where the CPU has it");
      assert.equal(engineCpuFeatures({ backend: "llama-server", llamaServer: join(home, "elsewhere", "bin", "llama-server") }, cpu).amx, true, "an unknown binary: the CPU's features");
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("reads AMX from /proc/cpuinfo only with tiles, INT8 and AVX-512 VNNI advertised", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-cpuinfo-"));
    try {
      writeFileSync(join(dir, "cpuinfo"), "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni amx_tile amx_int8 amx_bf16\n");
      assert.equal(readCpuFeatures(dir, "x64").amx, true);
      writeFileSync(join(dir, "cpuinfo"), "processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_tile\n");
      assert.equal(readCpuFeatures(dir, "x64").amx, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
