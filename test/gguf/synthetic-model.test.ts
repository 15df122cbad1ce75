import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { checkLoadable } from "../../src/engine/load-safety.js";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import { isEdgeError } from "../../src/errors.js";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { f16BitsToF32 } from "../../src/gguf/half-float.js";
import { buildSyntheticModel, syntheticVocabulary, writeSyntheticModel } from "../../src/gguf/synthetic-model.js";
import { parseSyntheticShape, SYNTHETIC_SHAPES, syntheticParameterCount } from "../../src/gguf/synthetic-shape.js";
import { runCli, tempHome } from "../helpers.js";

const TINY = "embd=128,layers=2,heads=4,kv=2,ffn=256,vocab=600";

describe("synthetic shapes", () => {
  it("have the parameter counts of the public models they copy", () => {
    // Published totals: SmolLM2-135M/360M, TinyLlama-1.1B, Llama-3.2-3B, Mistral-7B-v0.1.
    assert.equal(syntheticParameterCount(SYNTHETIC_SHAPES["135m"]!), 134_515_008);
    assert.equal(syntheticParameterCount(SYNTHETIC_SHAPES["360m"]!), 361_821_120);
    assert.equal(syntheticParameterCount(SYNTHETIC_SHAPES["1.1b"]!), 1_100_048_384);
    assert.equal(syntheticParameterCount(SYNTHETIC_SHAPES["3b"]!), 3_212_749_824);
    assert.equal(syntheticParameterCount(SYNTHETIC_SHAPES["7b"]!), 7_241_732_096);
  });

  it("parses names, aliases, parameters and overrides", () => {
    assert.equal(parseSyntheticShape("TinyLlama-1.1B").embedding, 2048);
    const custom = parseSyntheticShape("embd=512, layers=4,heads=8,kv=2,ffn=1408,vocab=32000,tied");
    assert.deepEqual(
      [custom.name, custom.embedding, custom.layers, custom.heads, custom.kvHeads, custom.feedForward, custom.vocab, custom.tiedEmbeddings],
      ["custom", 512, 4, 8, 2, 1408, 32000, true],
    );
    const small360 = parseSyntheticShape("360m,layers=2");
    assert.equal(small360.layers, 2);
    assert.equal(small360.embedding, 960);
    assert.equal(small360.name, "360m-custom");
  });

  it("rejects bad shapes with a usage error naming the problem", () => {
    const cases: Array<[string, RegExp]> = [
      ["13b", /unknown shape "13b".*known: 135m/],
      ["embd=100,heads=3", /embd 100 is not a multiple of heads 3/],
      ["embd=128,heads=4,kv=3", /heads 4 is not a multiple of kv 3/],
      ["layers=0", /layers must be between 1 and 512/],
      ["vocab=100", /vocab must be between 259/],
      ["embd=1.5", /embd must be an integer/],
      ["depth=3", /unknown parameter "depth"/],
      ["embd=96,heads=32,kv=32", /head size .* must be even/],
    ];
    for (const [text, pattern] of cases) {
      assert.throws(
        () => parseSyntheticShape(text),
        (error: unknown) => isEdgeError(error) && error.code === "usage" && pattern.test(error.message),
        text,
      );
    }
  });
});

describe("synthetic models", () => {
  let dir: string;
  let cleanup: () => void;
  before(() => ({ home: dir, cleanup } = tempHome()));
  after(() => cleanup());

  it("have a byte vocabulary that llama.cpp's SPM tokenizer accepts", () => {
    const vocab = syntheticVocabulary(300);
    assert.equal(vocab.tokens.length, 300);
    assert.equal(vocab.tokens[3], "<0x00>");
    assert.equal(vocab.tokens[258], "<0xFF>");
    assert.equal(new Set(vocab.tokens).size, 300);
    // No two-character pieces: the tokenizer can never merge into the fillers.
    assert.ok(vocab.tokens.slice(259).every((t) => [...t].length >= 3));
  });

  it("stream a 7B model without holding it: tensor data comes in bounded chunks", async () => {
    const doc = buildSyntheticModel({ shape: SYNTHETIC_SHAPES["7b"]!, type: "q4_0" });
    assert.equal(doc.parameterCount, 7_241_732_096);
    // Q4_0 mix as `edgelm quantize` writes it: output.weight at Q6_K, norms F32.
    const types = new Map(doc.tensors.map((t) => [t.name, t.type.name]));
    assert.equal(types.get("output.weight"), "Q6_K");
    assert.equal(types.get("blk.0.ffn_down.weight"), "Q4_0");
    assert.equal(types.get("blk.31.attn_norm.weight"), "F32");
    assert.ok(doc.dataBytes > 3.8e9 && doc.dataBytes < 4.3e9, `7B Q4_0 is ${doc.dataBytes} bytes`);
    const embd = doc.tensors[0]!;
    assert.equal(embd.name, "token_embd.weight");
    const chunks = (embd.data as () => AsyncIterable<Uint8Array>)();
    for await (const chunk of chunks) {
      assert.ok(chunk.length <= 4 << 20, `chunk of ${chunk.length} bytes`);
      assert.equal(chunk.length % 18, 0, "chunks hold whole Q4_0 blocks");
      break;
    }
  });

  it("write the same bytes for the same seed, and different ones for another", async () => {
    const shape = parseSyntheticShape(TINY);
    const a = await writeSyntheticModel(join(dir, "a.gguf"), { shape, type: "q8_0", seed: 7 });
    const b = await writeSyntheticModel(join(dir, "b.gguf"), { shape, type: "q8_0", seed: 7 });
    const c = await writeSyntheticModel(join(dir, "c.gguf"), { shape, type: "q8_0", seed: 8 });
    const sha = (p: string): string => createHash("sha256").update(readFileSync(p)).digest("hex");
    assert.equal(sha(a.path), sha(b.path));
    assert.notEqual(sha(a.path), sha(c.path));
    assert.equal(a.fileSize, readFileSync(a.path).length);
  });

  it("have F16 weights with the intended spread and norms of one", async () => {
    const path = join(dir, "f16.gguf");
    await writeSyntheticModel(path, { shape: parseSyntheticShape(TINY), type: "f16" });
    const file = readGguf(path);
    const bytes = readFileSync(path);
    const q = file.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
    assert.equal(q.type.name, "F16");
    const halves = new Uint16Array(bytes.buffer.slice(bytes.byteOffset + q.fileOffset, bytes.byteOffset + q.fileOffset + q.byteSize));
    let sum = 0;
    let squares = 0;
    for (const h of halves) {
      const v = f16BitsToF32(h);
      sum += v;
      squares += v * v;
    }
    const mean = sum / halves.length;
    const std = Math.sqrt(squares / halves.length - mean * mean);
    assert.ok(Math.abs(mean) < 0.001, `mean ${mean}`);
    assert.ok(Math.abs(std - 0.02) < 0.001, `std ${std}`);
    const norm = file.tensors.find((t) => t.name === "output_norm.weight")!;
    assert.equal(norm.type.name, "F32");
    assert.equal(bytes.readFloatLE(norm.fileOffset), 1);
  });

  for (const type of ["f16", "q8_0", "q4_0"] as const) {
    it(`load in node-llama-cpp and generate (${type})`, async () => {
      const path = join(dir, `tiny-${type}.gguf`);
      await writeSyntheticModel(path, { shape: parseSyntheticShape(TINY), type });
      checkLoadable(path);
      const model = await new NodeLlamaCppBackend().load({ path, contextSize: 128, threads: { decode: 1 } });
      try {
        assert.equal(model.info.vocabSize, 600);
        assert.equal(model.info.embeddingSize, 128);
        // Every character is its bytes: "hé" is ▁ (3 bytes) + h + é (2 bytes).
        assert.deepEqual(await model.tokenize("hé"), [0xe2 + 3, 0x96 + 3, 0x81 + 3, 0x68 + 3, 0xc3 + 3, 0xa9 + 3]);
        const stream = await model.generate({ prompt: "Once upon a time", maxTokens: 8, temperature: 0 });
        for await (const _ of stream) {
          /* drain */
        }
        const result = await stream.result;
        assert.equal(result.timings.completionTokens, 8);
      } finally {
        await model.dispose();
      }
    });
  }

  it("edgelm synth writes a model and reports it; bad flags are one-line usage errors", async () => {
    const out = join(dir, "cli.gguf");
    const ok = await runCli(["synth", "--shape", TINY, "--type", "q4_0", "--out", out, "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    const report = JSON.parse(ok.stdout) as { parameters: number; tensor_types: Record<string, number>; file_size: number };
    assert.equal(report.file_size, readFileSync(out).length);
    assert.ok(report.tensor_types.Q4_0! > 0);
    assert.equal(readGguf(out).metadata["general.file_type"], 2);

    const badType = await runCli(["synth", "--shape", "135m", "--type", "q3_k", "--out", join(dir, "x.gguf")]);
    assert.equal(badType.code, 2);
    assert.match(badType.stderr, /^edgelm: --type must be one of f16, q8_0/);
    const badShape = await runCli(["synth", "--shape", "huge", "--out", join(dir, "x.gguf")]);
    assert.equal(badShape.code, 2);
    assert.match(badShape.stderr, /unknown shape "huge"/);
    const missingDir = await runCli(["synth", "--shape", TINY, "--out", join(dir, "no", "such", "dir", "x.gguf")]);
    assert.equal(missingDir.code, 3);
    assert.match(missingDir.stderr, /^edgelm: cannot write .*no such file or directory/);
    assert.equal(readdirSync(dir).filter((f) => f.endsWith(".tmp")).length, 0, "no temp files left behind");
  });
});
