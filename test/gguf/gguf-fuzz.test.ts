/**
 * The GGUF reader cannot be crashed: a few hundred mutations of stories260K
 * (the long run is bench/fuzz-gguf) each parse or fail with an EdgeError; the
 * native aborts fuzzing found are refused by load-safety; and a sample of the
 * mutants edgelm accepts loads into llama.cpp without killing the process.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { classifyGguf } from "../../bench/fuzz/classify-gguf.js";
import { ggufMutations, traceFields, type GgufField } from "../../bench/fuzz/gguf-mutator.js";
import { checkNativeLoads } from "../../bench/fuzz/native-load-check.js";
import { checkLoadableFile } from "../../src/engine/load-safety.js";
import { isEdgeError } from "../../src/errors.js";
import { parseGguf, readGguf } from "../../src/gguf/gguf-reader.js";
import { setLogLevel } from "../../src/log.js";
import { TEST_MODEL } from "../helpers.js";

describe("GGUF fuzz", () => {
  let base: Uint8Array;
  let fields: GgufField[];
  let dataOffset: number;
  let dir: string;
  before(() => {
    setLogLevel("error"); // mutated chat templates that cannot be parsed are a warning each
    base = new Uint8Array(readFileSync(TEST_MODEL));
    ({ fields, dataOffset } = traceFields(base));
    dir = mkdtempSync(join(tmpdir(), "edgelm-fuzz-test-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("400 mutations: each accepted or rejected with an EdgeError; file and buffer reads agree", async () => {
    const kinds = new Map<string, { accepted: number; rejected: number }>();
    let i = 0;
    for (const m of ggufMutations(base, 20240611, 400)) {
      const result = await classifyGguf(m.bytes);
      assert.notEqual(result.outcome, "crash", `${m.name}: ${result.outcome === "crash" ? result.error : ""}`);
      if (result.outcome === "rejected") {
        // A chat template past its render limits is refused at load (unsupported_model); anything else is the file.
        if (m.name.startsWith("template")) assert.match(result.code, /^(invalid_gguf|unsupported_model)$/, `${m.name}: ${result.message}`);
        else assert.equal(result.code, "invalid_gguf", `${m.name}: ${result.message}`);
        assert.doesNotMatch(result.message, /\n/);
      }
      const kind = m.name.split(/[@ =]/)[0]!;
      const k = kinds.get(kind) ?? { accepted: 0, rejected: 0 };
      k[result.outcome === "accepted" ? "accepted" : "rejected"]++;
      kinds.set(kind, k);
      if (i++ % 10 === 0) {
        const path = join(dir, "case.gguf");
        writeFileSync(path, m.bytes);
        let viaFile = "accepted";
        try {
          checkLoadableFile(readGguf(path), path);
        } catch (error) {
          assert.ok(isEdgeError(error), String(error));
          viaFile = error.code;
        }
        // The file check covers the header; the chat template's probe is the buffer classification's alone.
        assert.equal(viaFile, result.outcome === "rejected" && result.code === "invalid_gguf" ? result.code : "accepted", m.name);
      }
    }
    // The mix is meaningful: every kind of mutation ran, and both outcomes occur.
    assert.deepEqual([...kinds.keys()].sort(), ["array", "bitflip", "count", "magic", "overwrite", "shift", "splice", "template", "truncate", "type", "value", "version"]);
    const totals = [...kinds.values()].reduce((a, k) => ({ accepted: a.accepted + k.accepted, rejected: a.rejected + k.rejected }), { accepted: 0, rejected: 0 });
    assert.ok(totals.accepted > 20 && totals.rejected > 200, JSON.stringify(totals));
  });

  it("truncation at every 97th offset of the header, and in the tensor data, is refused", async () => {
    for (let at = 0; at < base.length; at += at < dataOffset + 128 ? 97 : 50_021) {
      const result = await classifyGguf(base.subarray(0, at));
      assert.equal(result.outcome, "rejected", `truncated at ${at}`);
    }
  });

  function withField(pattern: RegExp, write: (bytes: Uint8Array, view: DataView, field: GgufField) => void): Uint8Array {
    const field = fields.find((f) => pattern.test(f.what));
    assert.ok(field, `no field ${pattern}`);
    const bytes = base.slice();
    write(bytes, new DataView(bytes.buffer), field);
    return bytes;
  }

  // Each of these made llama.cpp abort the process (GGML_ASSERT or SIGSEGV) before load-safety refused it.
  const nativeAborts: Array<[string, () => Uint8Array, RegExp]> = [
    ["block_count 0", () => withField(/^llama\.block_count$/, (_b, v, f) => v.setUint32(f.offset, 0, true)), /llama\.block_count is 0; it must be between 1 and 512/],
    ["block_count 513", () => withField(/^llama\.block_count$/, (_b, v, f) => v.setUint32(f.offset, 513, true)), /llama\.block_count is 513/],
    ["negative norm epsilon", () => withField(/^llama\.attention\.layer_norm_rms_epsilon$/, (_b, v, f) => v.setFloat32(f.offset, -1e-5, true)), /layer_norm_rms_epsilon is -0\.0000099.*finite number ≥ 0/],
    ["NaN norm epsilon", () => withField(/^llama\.attention\.layer_norm_rms_epsilon$/, (_b, v, f) => v.setFloat32(f.offset, NaN, true)), /layer_norm_rms_epsilon is NaN/],
    ["head_count_kv absurd", () => withField(/^llama\.attention\.head_count_kv$/, (_b, v, f) => v.setUint32(f.offset, 0xfffffff0, true)), /head_count_kv is 4294967280/],
    ["head_count 0", () => withField(/^llama\.attention\.head_count$/, (_b, v, f) => v.setUint32(f.offset, 0, true)), /llama\.attention\.head_count is 0; it must be between 1/],
    ["feed_forward_length 0", () => withField(/^llama\.feed_forward_length$/, (_b, v, f) => v.setUint32(f.offset, 0, true)), /llama\.feed_forward_length is 0; it must be between 1/],
    // "llama.feed_forward_length" → "llama.feEd_forward_length": llama.cpp then builds zero-width FFN tensors.
    ["feed_forward_length renamed away", () => withField(/^metadata key #13$/, (b, _v, f) => (b[f.offset + 8] = b[f.offset + 8]! ^ 0x20)), /llama\.feed_forward_length is missing/],
    [
      "a duplicate token",
      () =>
        withField(/^metadata "tokenizer\.ggml\.tokens"$/, (b, _v, f) => {
          // Token #1 ("<s>") becomes the first 3 bytes of token #0 ("<unk>") followed by... itself: "<un".
          const second = fields.filter((x) => x.what === f.what)[1]!;
          b.set(b.subarray(f.offset, f.offset + second.length), second.offset);
          // ... and token #2 ("</s>") becomes "<un" + NUL: equal to token #1 as a C string.
          const third = fields.filter((x) => x.what === f.what)[2]!;
          b.set([...b.subarray(f.offset, f.offset + 3), 0], third.offset);
        }),
      /lists "<un" twice/,
    ],
    ["a key made of NUL bytes", () => withField(/^metadata key #10$/, (b, _v, f) => b.fill(0, f.offset, f.offset + f.length)), /metadata key #10 contains a NUL byte/],
    ["an I32 weight", () => withField(/^type of blk\.4\.attn_output\.weight$/, (_b, v, f) => v.setUint32(f.offset, 26, true)), /blk\.4\.attn_output\.weight" has type I32, which llama\.cpp cannot compute with/],
  ];
  for (const [what, make, pattern] of nativeAborts) {
    it(`refuses what made llama.cpp abort: ${what}`, () => {
      assert.throws(() => checkLoadableFile(parseGguf(make()), "m.gguf"), (e: unknown) => isEdgeError(e) && e.code === "invalid_gguf" && pattern.test(e.message));
    });
  }

  it("also refuses grouped-query head counts that do not divide (llama.cpp's graph assumes they do)", () => {
    const bytes = withField(/^llama\.attention\.head_count_kv$/, (_b, v, f) => v.setUint32(f.offset, 3, true));
    assert.throws(() => checkLoadableFile(parseGguf(bytes), "m.gguf"), (e: unknown) => isEdgeError(e) && /head_count 8 is not a multiple of .*head_count_kv 3/.test(e.message));
  });

  it("mutants edgelm accepts load into llama.cpp (child process) without crashing it", { timeout: 180_000 }, async () => {
    const files: string[] = [];
    for (const m of ggufMutations(base, 77, 2000)) {
      if (files.length >= 12) break;
      const headerSame = m.bytes.length === base.length && Buffer.compare(Buffer.from(m.bytes.subarray(0, dataOffset)), Buffer.from(base.subarray(0, dataOffset))) === 0;
      if (headerSame || (await classifyGguf(m.bytes)).outcome !== "accepted") continue;
      const path = join(dir, `native-${files.length}.gguf`);
      writeFileSync(path, m.bytes);
      files.push(path);
    }
    assert.equal(files.length, 12);
    const results = await checkNativeLoads(files, 60_000);
    assert.equal(results.length, files.length);
    for (const r of results) assert.ok(r.status === "ok" || r.status === "model_load_failed", `${r.file}: ${r.status} ${r.stderr ?? ""}`);
    assert.ok(results.some((r) => r.status === "ok"));
  });
});
