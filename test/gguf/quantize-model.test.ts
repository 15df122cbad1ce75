import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEMO_STORIES } from "../../src/demo/corpus.js";
import { DEMO_MODEL_PATH } from "../../src/demo/demo-model-file.js";
import { checkLoadable } from "../../src/engine/load-safety.js";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import type { LoadedModel } from "../../src/engine/types.js";
import { isEdgeError, type ErrorCode } from "../../src/errors.js";
import { GGML_TYPE, ggmlTypeInfo } from "../../src/gguf/ggml-types.js";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { GgufValueType, type TypedGgufValue } from "../../src/gguf/gguf-values.js";
import { writeGguf } from "../../src/gguf/gguf-writer.js";
import { sizeAtTarget } from "../../src/gguf/memory-estimate.js";
import { quantizeModel } from "../../src/gguf/quant/quantize-model.js";
import { decodeTensor } from "../../src/gguf/quant/tensor-codec.js";
import { QUANT_TARGETS, type QuantTargetName } from "../../src/gguf/quant/tensor-type-plan.js";
import { tempHome, TEST_MODEL } from "../helpers.js";
import { simulateEnospc } from "../support/simulate-enospc.js";

async function greedy(path: string, prompt: string, tokens: number): Promise<string> {
  const model: LoadedModel = await new NodeLlamaCppBackend().load({ path, contextSize: 256, threads: { decode: 1 } });
  try {
    const stream = await model.generate({ prompt, maxTokens: tokens, temperature: 0 });
    let text = "";
    for await (const chunk of stream) text += chunk.text;
    return text;
  } finally {
    await model.dispose();
  }
}

/** Tensor data bytes of a file, tensor by tensor (what a quantizer decides; metadata aside). */
function tensorData(path: string): Map<string, Buffer> {
  const file = readGguf(path);
  const bytes = readFileSync(path);
  return new Map(file.tensors.map((t) => [t.name, bytes.subarray(t.fileOffset, t.fileOffset + t.byteSize)]));
}

async function expectError(promise: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isEdgeError(error), `expected an EdgeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

/** A tiny GGUF with the given 2-D tensors (not a loadable model: the quantizer does not need one). */
async function writeTensors(path: string, tensors: Array<{ name: string; dims: number[]; type: number; data: Uint8Array }>): Promise<void> {
  const metadata = new Map<string, TypedGgufValue>([["general.architecture", { type: GgufValueType.STRING, value: "llama" }]]);
  await writeGguf(path, { metadata, tensors: tensors.map((t) => ({ ...t, type: ggmlTypeInfo(t.type)! })) });
}

describe("quantizeModel", () => {
  let dir: string;
  let cleanup: () => void;
  before(() => ({ home: dir, cleanup } = tempHome()));
  after(() => cleanup());
  const out = (name: string): string => join(dir, name);
  const noLeftovers = (): void => assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".tmp")), [], "no temp files left");

  it("quantizes stories260K to every type; each loads and tells a story", async () => {
    const reference = await greedy(TEST_MODEL, "Once upon a time", 24);
    for (const name of Object.keys(QUANT_TARGETS) as QuantTargetName[]) {
      const path = out(`stories-${name}.gguf`);
      const report = await quantizeModel(TEST_MODEL, path, { target: name, workers: 1 });
      checkLoadable(path);
      const file = readGguf(path);
      assert.equal(file.metadata["general.file_type"], QUANT_TARGETS[name].fileType, name);
      assert.match(String(file.metadata["edgelm.quantization"]), new RegExp(`^${QUANT_TARGETS[name].label} by edgelm quantize from stories260K.gguf`));
      // ffn_down rows are 172 wide: no 32- or 256-block type fits, so they fall back to F16 — reported.
      const downs = report.fallbacks.filter((f) => f.tensor.endsWith("ffn_down.weight"));
      if (name !== "f16") assert.equal(downs.length, 5, name);
      assert.ok(downs.every((f) => f.used === "F16" && f.rowLength === 172));
      assert.equal(file.tensors.find((t) => t.name === "blk.0.ffn_down.weight")!.type.name, "F16");
      assert.equal(file.tensors.find((t) => t.name === "blk.0.attn_norm.weight")!.type.name, "F32", "1-D tensors stay F32");
      assert.equal(report.outputBytes, file.fileSize);
      const text = await greedy(path, "Once upon a time", 24);
      assert.match(text, /Lily|girl|there was/, `${name}: ${text}`);
      if (name === "q8_0" || name === "f16") assert.equal(text, reference, `${name} keeps the greedy story`);
    }
    noLeftovers();
  });

  it("writes the same tensors, types and bytes as llama.cpp's llama-quantize", async () => {
    // Digests of (name, type, data) of every tensor in the files llama-quantize (built from the
    // llama.cpp source node-llama-cpp 3.21.1 bundles) writes for stories260K; Q6_K falls back to
    // Q8_0 everywhere (rows of 64 < 256), so it is byte-identical to Q8_0.
    const llamaQuantize: Record<string, string> = {
      q8_0: "093b7ae74694c7c89d63430ced8c2f9d",
      q4_0: "a4eeedbe9a7f366fd93aa88a07c702f9",
      q4_1: "0f161ec87b1f3720c20cb3517613e931",
      q5_0: "1d9992e77adf67ad8a018df3867341a7",
      q5_1: "9a5235598274546d3d47d3784362890d",
      q4_k: "33a03c2d31af744ab62b4b86a2e4d70b",
      q6_k: "093b7ae74694c7c89d63430ced8c2f9d",
    };
    for (const [name, expected] of Object.entries(llamaQuantize)) {
      const path = out(`stories-${name}.gguf`);
      const file = readGguf(path);
      const bytes = readFileSync(path);
      const hash = createHash("sha256");
      // llama-quantize writes tensors by layer, then name; the digest goes by name.
      for (const t of [...file.tensors].sort((a, b) => (a.name < b.name ? -1 : 1))) {
        hash.update(`${t.name}:${t.type.name};`);
        hash.update(bytes.subarray(t.fileOffset, t.fileOffset + t.byteSize));
      }
      assert.equal(hash.digest("hex").slice(0, 32), expected, name);
    }
  });

  it("writes exactly the sizes inspect predicts (one rule set)", async () => {
    for (const name of ["q8_0", "q4_0", "q4_k"] as const) {
      const path = out(`stories-${name}.gguf`);
      const data = [...tensorData(path).values()].reduce((sum, b) => sum + b.length, 0);
      assert.equal(sizeAtTarget(readGguf(TEST_MODEL), name), data, name);
    }
  });

  it("gives the same bytes with 0, 1 and 2 worker threads", async () => {
    const a = out("w0.gguf");
    const b = out("w2.gguf");
    await quantizeModel(TEST_MODEL, a, { target: "q4_k", workers: 0 });
    await quantizeModel(TEST_MODEL, b, { target: "q4_k", workers: 2 });
    assert.equal(Buffer.compare(readFileSync(a), readFileSync(b)), 0);
    assert.equal(Buffer.compare(readFileSync(a), readFileSync(out("stories-q4_k.gguf"))), 0);
  });

  it("quantizes the demo model to Q8_0 and Q4_0; both load and generate its words", async () => {
    const words = new Set(DEMO_STORIES.join(" ").split(/\s+/));
    for (const name of ["q8_0", "q4_0"] as const) {
      const path = out(`demo-${name}.gguf`);
      const report = await quantizeModel(DEMO_MODEL_PATH, path, { target: name });
      assert.deepEqual(report.fallbacks.filter((f) => f.used === "F16"), [], "every demo dimension is a multiple of 32");
      // The demo's output matrix holds -1e4 for impossible tokens beside log-probabilities near -1, so
      // one 32-block scale flattens the real ones: the greedy path changes, but the words stay the corpus's.
      const text = await greedy(path, "Once upon a time", 16);
      const generated = text.match(/[^\s.,!?]+|[.,!?]/g) ?? [];
      assert.ok(generated.length >= 2 && generated.every((w) => words.has(w)), `${name}: ${text}`);
    }
  });

  it("uses --output-type for the output matrix", async () => {
    const path = out("stories-q4_0-out-f16.gguf");
    await quantizeModel(TEST_MODEL, path, { target: "q4_0", outputType: ggmlTypeInfo(GGML_TYPE.F16)! });
    const file = readGguf(path);
    assert.equal(file.tensors.find((t) => t.name === "output.weight")!.type.name, "F16");
    assert.equal(file.tensors.find((t) => t.name === "token_embd.weight")!.type.name, "Q4_0");
  });

  it("requantizes Q8_0 down with a warning, copies what is already the target, and refuses to go up", async () => {
    const q8 = out("stories-q8_0.gguf");
    const warnings: string[] = [];
    const down = await quantizeModel(q8, out("q8-to-q4.gguf"), { target: "q4_0", onWarning: (w) => warnings.push(w) });
    assert.ok(down.requantized > 0);
    assert.match(warnings.join("\n"), /requantizing \d+ tensors that are already Q8_0/);
    // The F16 fallbacks of the Q8_0 file are F16 data: they stay F16 (no Q4_0 block fits their rows either).
    assert.equal(readGguf(out("q8-to-q4.gguf")).tensors.find((t) => t.name === "blk.0.ffn_down.weight")!.type.name, "F16");
    const same = await quantizeModel(q8, out("q8-to-q8.gguf"), { target: "q8_0" });
    assert.equal(same.requantized, 0);
    assert.deepEqual([...tensorData(out("q8-to-q8.gguf")).values()], [...tensorData(q8).values()]);
    await expectError(quantizeModel(out("stories-q4_0.gguf"), out("up.gguf"), { target: "q8_0" }), "unsupported", /already quantized to Q4_0; converting it to Q8_0 would grow the file/);
    assert.equal(existsSync(out("up.gguf")), false);
  });

  it("refuses tensor types it cannot dequantize, naming the tensor", async () => {
    const path = out("q5k.gguf");
    await writeTensors(path, [{ name: "blk.0.attn_q.weight", dims: [256, 2], type: 13 /* Q5_K */, data: new Uint8Array(2 * 176) }]);
    await expectError(quantizeModel(path, out("q5k-out.gguf"), { target: "q4_0" }), "unsupported_model", /tensor "blk.0.attn_q.weight" is Q5_K, which edgelm cannot dequantize/);
    assert.equal(existsSync(out("q5k-out.gguf")), false);
  });

  it("refuses NaN or Inf weights, naming the tensor and element, and leaves nothing behind", async () => {
    const path = out("nan.gguf");
    const values = new Float32Array(64).fill(0.5);
    values[37] = Number.NaN;
    await writeTensors(path, [
      { name: "blk.0.attn_k.weight", dims: [32, 2], type: GGML_TYPE.F32, data: new Uint8Array(new Float32Array(64).fill(1).buffer) },
      { name: "blk.0.attn_q.weight", dims: [32, 2], type: GGML_TYPE.F32, data: new Uint8Array(values.buffer) },
    ]);
    await expectError(quantizeModel(path, out("nan-out.gguf"), { target: "q8_0" }), "invalid_gguf", /tensor "blk.0.attn_q.weight" holds NaN or Inf at element 37/);
    assert.equal(existsSync(out("nan-out.gguf")), false);
    noLeftovers();
  });

  it("fails cleanly on a truncated input, a missing output directory, the input as output, and an abort", async () => {
    const truncated = out("truncated.gguf");
    copyFileSync(TEST_MODEL, truncated);
    truncateSync(truncated, readFileSync(TEST_MODEL).length - 1000);
    await expectError(quantizeModel(truncated, out("t-out.gguf"), { target: "q8_0" }), "invalid_gguf", /truncated: tensor ".+" needs bytes/);
    await expectError(quantizeModel(TEST_MODEL, join(dir, "missing", "x.gguf"), { target: "q8_0" }), "file_not_found", /the directory .*missing does not exist/);
    await expectError(quantizeModel(TEST_MODEL, TEST_MODEL, { target: "q8_0" }), "usage", /the output path is the input path/);
    const controller = new AbortController();
    const aborted = quantizeModel(TEST_MODEL, out("aborted.gguf"), {
      target: "q4_k",
      signal: controller.signal,
      onProgress: (done) => done > 100_000 && controller.abort(),
    });
    await expectError(aborted, "aborted", /cancelled/);
    assert.equal(existsSync(out("aborted.gguf")), false);
    noLeftovers();
  });

  it("reports a full disk as disk_full and leaves neither output nor temp file", async () => {
    const restore = await simulateEnospc(200_000);
    try {
      await expectError(quantizeModel(TEST_MODEL, out("full.gguf"), { target: "q8_0" }), "disk_full", /no space left on device/);
    } finally {
      restore();
    }
    assert.equal(existsSync(out("full.gguf")), false);
    noLeftovers();
  });

  it("dequantizes what it wrote to values close to the original weights", async () => {
    const source = tensorData(TEST_MODEL).get("blk.2.attn_q.weight")!;
    const original = new Float32Array(source.buffer.slice(source.byteOffset, source.byteOffset + source.length));
    for (const [name, bound] of [["q8_0", 0.01], ["q4_0", 0.12]] as const) {
      const bytes = tensorData(out(`stories-${name}.gguf`)).get("blk.2.attn_q.weight")!;
      const back = decodeTensor(ggmlTypeInfo(QUANT_TARGETS[name].type)!, new Uint8Array(bytes));
      let se = 0;
      let sx = 0;
      for (let i = 0; i < original.length; i++) {
        se += (back[i]! - original[i]!) ** 2;
        sx += original[i]! ** 2;
      }
      assert.ok(Math.sqrt(se / sx) < bound, `${name}: relative error ${Math.sqrt(se / sx)}`);
    }
  });

  it("rejects a metadata layout it cannot write back (nested arrays)", async () => {
    const path = out("nested.gguf");
    // Hand-built GGUF v3: one nested-array key and one tensor.
    const parts: Buffer[] = [];
    const u32 = (v: number): Buffer => Buffer.from(new Uint32Array([v]).buffer);
    const u64 = (v: number): Buffer => Buffer.from(new BigUint64Array([BigInt(v)]).buffer);
    const str = (s: string): Buffer => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
    parts.push(Buffer.from("GGUF"), u32(3), u64(1), u64(1));
    parts.push(str("x.nested"), u32(9), u32(9), u64(1), u32(4), u64(1), u32(7));
    parts.push(str("blk.0.attn_q.weight"), u32(2), u64(32), u64(1), u32(0), u64(0));
    let header = Buffer.concat(parts);
    header = Buffer.concat([header, Buffer.alloc((32 - (header.length % 32)) % 32)]);
    writeFileSync(path, Buffer.concat([header, Buffer.alloc(128)]));
    await expectError(quantizeModel(path, out("nested-out.gguf"), { target: "q8_0" }), "unsupported_model", /metadata "x.nested" holds nested arrays/);
  });
});
