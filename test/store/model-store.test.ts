import assert from "node:assert/strict";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { GGML_TYPE, ggmlTypeInfo } from "../../src/gguf/ggml-types.js";
import { encodeGguf } from "../../src/gguf/gguf-writer.js";
import { GgufValueType } from "../../src/gguf/gguf-values.js";
import type { Config } from "../../src/config/schema.js";
import { EdgeError } from "../../src/errors.js";
import { entryForSigning, ModelStore } from "../../src/store/model-store.js";
import { resolveModel } from "../../src/store/resolve-model.js";
import { hashFileCached, VerifiedHashCache } from "../../src/trust/verified-hash-cache.js";
import { verifyModel } from "../../src/trust/verify-model.js";
import { tempHome, TEST_MODEL } from "../helpers.js";
import { sha256 } from "./fake-hub.js";

const MODEL = readFileSync(TEST_MODEL);
const MODEL_SHA = sha256(MODEL);

async function rejectsWith(promise: Promise<unknown> | (() => unknown), code: string, message?: RegExp): Promise<void> {
  await assert.rejects(async () => (typeof promise === "function" ? promise() : promise), (error: unknown) => {
    assert.ok(error instanceof EdgeError, `expected an EdgeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/** A LoRA adapter GGUF (general.type = adapter), as llama.cpp's converter writes one. */
async function adapterBytes(): Promise<Uint8Array> {
  return encodeGguf({
    metadata: new Map([
      ["general.architecture", { type: GgufValueType.STRING, value: "llama" }],
      ["general.type", { type: GgufValueType.STRING, value: "adapter" }],
      ["adapter.type", { type: GgufValueType.STRING, value: "lora" }],
    ]),
    tensors: [{ name: "blk.0.attn_q.weight.lora_a", dims: [4, 2], type: ggmlTypeInfo(GGML_TYPE.F32)!, data: new Uint8Array(32) }],
  });
}

/** Flips one byte of a read-only blob in place. */
function flipByte(path: string, offset: number): void {
  chmodSync(path, 0o644);
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset]! ^ 0xff;
  writeFileSync(path, bytes);
}

describe("ModelStore", () => {
  let home: string;
  let cleanup: () => void;
  let config: Config;
  let store: ModelStore;
  let work: string;

  beforeEach(() => {
    ({ home, cleanup } = tempHome());
    config = loadConfig({ env: { EDGELM_HOME: join(home, "edgelm") }, cwd: home }).config;
    store = ModelStore.open(config);
    work = join(home, "work");
    mkdirSync(work);
  });
  afterEach(() => cleanup());

  const blobs = (): string[] => (existsSync(store.paths.blobs) ? readdirSync(store.paths.blobs).sort() : []);

  it("adds a GGUF file as a read-only blob named by its SHA-256, with a manifest", async () => {
    const { entry, created } = await store.add(TEST_MODEL, { name: "Stories:1" });
    assert.equal(created, true);
    assert.equal(entry.reference, "stories:1");
    assert.equal(entry.model.path, join(store.paths.blobs, MODEL_SHA));
    assert.deepEqual(readFileSync(entry.model.path), MODEL);
    assert.equal(statSync(entry.model.path).mode & 0o777, 0o444);
    const m = entry.manifest;
    assert.equal(m.layout, "file");
    assert.deepEqual(m.files, [{ name: "stories260K.gguf", role: "model", sha256: MODEL_SHA, size: MODEL.length }]);
    assert.equal(m.quantization, "F32");
    assert.equal(m.variant_of, null);
    assert.deepEqual(m.source, { type: "file", path: TEST_MODEL });
    assert.ok(!Number.isNaN(Date.parse(m.created)));
    assert.deepEqual(store.list().map((e) => e.reference), ["stories:1"]);
    assert.equal(store.get("stories:1")?.model.sha256, MODEL_SHA);
    assert.equal(store.get("stories"), undefined, "no :latest");
    // The default name comes from the file; the tag is latest.
    const second = await store.add(TEST_MODEL);
    assert.equal(second.entry.reference, "stories260k:latest");
    assert.deepEqual(blobs(), [MODEL_SHA], "same bytes, one blob");
  });

  it("adds a model folder: relative names kept, model.sig kept as the signature, adapters recognised, git metadata ignored", async () => {
    const folder = join(work, "assistant");
    mkdirSync(join(folder, "adapters"), { recursive: true });
    mkdirSync(join(folder, ".git"));
    copyFileSync(TEST_MODEL, join(folder, "model.gguf"));
    writeFileSync(join(folder, "model.sig"), '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}');
    writeFileSync(join(folder, "README.md"), "an assistant\n");
    writeFileSync(join(folder, "adapters", "style.gguf"), await adapterBytes());
    writeFileSync(join(folder, ".git", "HEAD"), "ref: refs/heads/main\n");
    writeFileSync(join(folder, ".gitattributes"), "*.gguf filter=lfs\n");
    const { entry } = await store.add(folder, { name: "assistant:1" });
    assert.equal(entry.manifest.layout, "folder");
    assert.deepEqual(
      entry.files.map((f) => [f.name, f.role]),
      [["README.md", "other"], ["adapters/style.gguf", "adapter"], ["model.gguf", "model"], ["model.sig", "signature"]],
    );
    assert.equal(entry.signature?.name, "model.sig");
    const forSigning = entryForSigning(config, "assistant:1");
    assert.equal(forSigning.layout, "folder");
    assert.deepEqual(forSigning.files.map((f) => f.name), ["README.md", "adapters/style.gguf", "model.gguf"]);
    assert.equal(forSigning.signature?.path, store.blobPath(sha256(readFileSync(join(folder, "model.sig")))));

    const resolved = await resolveModel("assistant:1", config);
    assert.equal(resolved.source, "store");
    assert.equal(resolved.name, "assistant:1");
    assert.equal(resolved.expectedSha256, MODEL_SHA);
    assert.equal(resolved.path, store.blobPath(MODEL_SHA));
    assert.equal(resolved.signaturePath, entry.signature?.path);
    assert.equal(resolved.files?.length, 4);
    assert.equal(resolved.manifest?.name, "assistant");
  });

  it("refuses folders without exactly one model, with symlinks, and adapters on their own", async () => {
    const empty = join(work, "empty");
    mkdirSync(empty);
    writeFileSync(join(empty, "README.md"), "x");
    await rejectsWith(store.add(empty), "invalid_gguf", /holds no GGUF model file/);
    const two = join(work, "two");
    mkdirSync(two);
    copyFileSync(TEST_MODEL, join(two, "a.gguf"));
    copyFileSync(TEST_MODEL, join(two, "b.gguf"));
    await rejectsWith(store.add(two), "usage", /holds 2 GGUF models \(a\.gguf, b\.gguf\)/);
    const linked = join(work, "linked");
    mkdirSync(linked);
    symlinkSync(TEST_MODEL, join(linked, "model.gguf"));
    await rejectsWith(store.add(linked), "unsupported", /is a symbolic link/);
    writeFileSync(join(work, "not.gguf"), "not a gguf at all, just text");
    await rejectsWith(store.add(join(work, "not.gguf")), "invalid_gguf");
    await rejectsWith(store.add(join(work, "missing.gguf")), "file_not_found");
    writeFileSync(join(work, "adapter.gguf"), await adapterBytes());
    await rejectsWith(store.add(join(work, "adapter.gguf")), "unsupported", /is a LoRA adapter, not a model/);
    await rejectsWith(store.add(TEST_MODEL, { name: "../evil" }), "usage", /not a valid model name/);
    await rejectsWith(store.add(TEST_MODEL, { name: "hf:x/y/z.gguf" }), "usage");
    await rejectsWith(store.add(TEST_MODEL, { name: "demo:2" }), "usage", /built-in demo model's name/);
    assert.deepEqual(store.list(), []);
    assert.deepEqual(blobs(), [], "nothing half-added");
    assert.deepEqual(existsSync(store.paths.tmp) ? readdirSync(store.paths.tmp) : [], [], "no temp files left");
  });

  it("re-adding the same files is a no-op that repairs a damaged blob; other files under a taken name need force", async () => {
    const { entry } = await store.add(TEST_MODEL, { name: "m:1" });
    flipByte(entry.model.path, 5000);
    const again = await store.add(TEST_MODEL, { name: "m:1" });
    assert.equal(again.created, false);
    assert.deepEqual(readFileSync(entry.model.path), MODEL, "the blob was rewritten from the verified copy");

    const other = join(work, "other.gguf");
    writeFileSync(other, Buffer.concat([MODEL, Buffer.from("trailing bytes make another file")]));
    await rejectsWith(store.add(other, { name: "m:1" }), "model_exists", /m:1 already exists with other files/);
    assert.deepEqual(blobs(), [MODEL_SHA], "the refused file's blob is not kept");
    const replaced = await store.add(other, { name: "m:1", force: true });
    assert.equal(replaced.created, true);
    assert.deepEqual(blobs(), [sha256(readFileSync(other))], "the replaced model's blob was collected");
  });

  it("removes entries and only the blobs no other entry uses", async () => {
    await store.add(TEST_MODEL, { name: "a" });
    await store.add(TEST_MODEL, { name: "b:2" });
    const first = await store.remove("a");
    assert.equal(first.freedBytes, 0, "b:2 still uses the blob");
    assert.deepEqual(blobs(), [MODEL_SHA]);
    const second = await store.remove("b:2");
    assert.equal(second.freedBytes, MODEL.length);
    assert.deepEqual(blobs(), []);
    await rejectsWith(store.remove("b:3"), "model_not_found", /no model "b:3" in the store/);
  });

  it("exports the files under their manifest names with model.sig, re-checking every blob", async () => {
    const sig = join(work, "model.sig");
    writeFileSync(sig, "signature bytes");
    await store.add(TEST_MODEL, { name: "m", signature: sig });
    const out = join(work, "export");
    const written = await store.export("m", out);
    assert.deepEqual(written, [join(out, "stories260K.gguf"), join(out, "model.sig")]);
    assert.deepEqual(readFileSync(join(out, "stories260K.gguf")), MODEL);
    assert.equal(readFileSync(join(out, "model.sig"), "utf8"), "signature bytes");
    assert.equal(statSync(join(out, "stories260K.gguf")).mode & 0o222, 0o200, "an exported copy is writable by its owner");
    await rejectsWith(store.export("m", out), "model_exists", /already exists; pass --force/);
    await store.export("m", out, { force: true });

    flipByte(store.get("m")!.model.path, 100);
    await rejectsWith(store.export("m", join(work, "export2"), {}), "integrity_mismatch", /stories260K\.gguf .* does not match its manifest: expected sha256/);
    assert.deepEqual(readdirSync(join(work, "export2")), [], "no damaged copy written");
  });

  it("addVariant stores a variant as its own entry linked by variant_of (copy or move), and attachSignature adds model.sig", async () => {
    await store.add(TEST_MODEL, { name: "stories:f32" });
    const file = join(work, "variant.gguf");
    copyFileSync(TEST_MODEL, file);
    const variant = await store.addVariant("stories:f32", file, { name: "stories", tag: "q8_0", quantization: "Q8_0", tool: "edgelm quantize" });
    assert.equal(variant.reference, "stories:q8_0");
    assert.equal(variant.manifest.variant_of, "stories:f32");
    assert.equal(variant.manifest.quantization, "Q8_0");
    assert.deepEqual(variant.manifest.source, { type: "variant", from: "stories:f32", tool: "edgelm quantize" });
    assert.ok(existsSync(file), "copied by default");
    const moved = await store.addVariant("stories:f32", file, { name: "stories", tag: "moved", move: true });
    assert.ok(!existsSync(file), "moved into the store");
    assert.equal(moved.manifest.quantization, "F32", "read from the file when not given");
    await rejectsWith(store.addVariant("nope:1", TEST_MODEL, { name: "x", tag: "y" }), "model_not_found");

    const sig = join(work, "variant.sig");
    writeFileSync(sig, "device signature");
    const signed = await store.attachSignature("stories:q8_0", sig);
    assert.equal(signed.signature?.sha256, sha256(Buffer.from("device signature")));
    assert.deepEqual(signed.files.map((f) => f.name), ["stories-q8_0.gguf", "model.sig"]);
  });

  it("a damaged manifest is skipped by list (with a warning) and an error for get", async () => {
    await store.add(TEST_MODEL, { name: "good" });
    mkdirSync(join(store.paths.manifests, "bad"), { recursive: true });
    writeFileSync(join(store.paths.manifests, "bad", "latest.json"), '{"schema_version": 1, "name": "bad"');
    assert.deepEqual(store.list().map((e) => e.reference), ["good:latest"]);
    await rejectsWith(() => store.get("bad"), "io_error", /manifest .*bad\/latest\.json is not valid JSON/);
  });

  it("removes temp files left by a writer that died, and never by one still running", async () => {
    mkdirSync(store.paths.tmp, { recursive: true });
    const dead = join(store.paths.tmp, "999999999-abcdef.part");
    const alive = join(store.paths.tmp, `${process.ppid}-abcdef.part`);
    writeFileSync(dead, "half a blob");
    writeFileSync(alive, "a blob being written");
    await store.add(TEST_MODEL);
    assert.ok(!existsSync(dead));
    assert.ok(existsSync(alive));
  });
});

describe("verification on load", () => {
  let home: string;
  let cleanup: () => void;
  let config: Config;

  beforeEach(() => {
    ({ home, cleanup } = tempHome());
    config = loadConfig({ env: { EDGELM_HOME: home }, cwd: home }).config;
  });
  afterEach(() => cleanup());

  it("a store entry with one byte flipped is refused with integrity_mismatch naming the file and both hashes", async () => {
    const { entry } = await ModelStore.open(config).add(TEST_MODEL, { name: "m" });
    const resolved = await resolveModel("m", config);
    const ok = await verifyModel(resolved, config);
    assert.equal(ok.hashVerified, true);
    assert.equal(ok.sha256, MODEL_SHA);
    flipByte(entry.model.path, 1000);
    const actual = sha256(readFileSync(entry.model.path));
    await rejectsWith(
      verifyModel(resolved, config),
      "integrity_mismatch",
      new RegExp(`model m:latest: stories260K\\.gguf \\(${entry.model.path}\\) does not match its manifest: expected sha256 ${MODEL_SHA}, got ${actual}`),
    );
  });

  it("the verified-hash cache skips re-reading an unchanged file and notices any change, even with mtime put back", async () => {
    const file = join(home, "copy.gguf");
    copyFileSync(TEST_MODEL, file);
    const cache = new VerifiedHashCache(join(home, "cache"));
    assert.deepEqual(await hashFileCached(file, cache), { sha256: MODEL_SHA, cached: false });
    assert.deepEqual(await hashFileCached(file, cache), { sha256: MODEL_SHA, cached: true });
    assert.deepEqual(await hashFileCached(file, cache, { reverify: true }), { sha256: MODEL_SHA, cached: false });
    const before = statSync(file);
    const bytes = readFileSync(file);
    bytes[2000] = bytes[2000]! ^ 1;
    writeFileSync(file, bytes);
    utimesSync(file, before.atime, before.mtime); // same size, same mtime: only ctime tells
    const after = await hashFileCached(file, cache);
    assert.equal(after.cached, false);
    assert.notEqual(after.sha256, MODEL_SHA);
  });

  it("a bare path is hashed (and cached) with nothing to compare; --reverify (store.reverify) ignores the cache", async () => {
    const resolved = await resolveModel(TEST_MODEL, config);
    const first = await verifyModel(resolved, config);
    assert.equal(first.hashVerified, false);
    assert.equal(first.sha256, MODEL_SHA);
    assert.equal((await verifyModel(resolved, config)).cached, true);
    assert.equal((await verifyModel(resolved, { ...config, store: { ...config.store, reverify: true } })).cached, false);
    assert.equal((await verifyModel(resolved, config, { reverify: true })).cached, false);
  });
});
