/**
 * Our signatures against the reference implementation's: statements
 * byte-identical to its golden payloads for the same models, the root-digest
 * rule on every golden, and `edgelm sign` bundles shaped like the v1.1
 * fixtures (same fields, same key hint, same certificate chain) that verify.
 */
import assert from "node:assert/strict";
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isEdgeError } from "../../src/errors.js";
import { generateEcKeyPair, type EcCurve } from "../../src/trust/model-signing/ec-keys.js";
import { hashModelFiles } from "../../src/trust/model-signing/hash-model-files.js";
import { encodeModelStatement, parseModelStatement } from "../../src/trust/model-signing/model-statement.js";
import { signModel } from "../../src/trust/model-signing/sign-model.js";
import { loadTrustAnchors, trustedKeyFromPem } from "../../src/trust/model-signing/trust-anchors.js";
import { verifyModelSignature } from "../../src/trust/model-signing/verify-model-signature.js";
import { tempHome } from "../helpers.js";
import { FIXTURES, KEY_HINT, KEYS, PRIVATE_KEY, PUBLIC_KEY, ROOT_CA } from "./signing-fixtures.js";

const GOLDEN = join(FIXTURES, "golden-payloads");

/** The models upstream's tests/conftest.py builds for its golden payloads. */
function buildGoldenModels(base: string): Record<string, string> {
  const at = (name: string) => {
    const dir = join(base, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const sampleFile = join(at("a"), "file_model");
  writeFileSync(sampleFile, "This is a simple model");
  const emptyFile = join(at("b"), "empty_file_model");
  writeFileSync(emptyFile, "");
  const sample = at("c/sample_model");
  for (let i = 0; i < 2; i++) {
    mkdirSync(join(sample, `d${i}`));
    for (let j = 0; j < 3; j++) writeFileSync(join(sample, `d${i}`, `f${i}${j}`), `This is file f${i}${j} in d${i}.`);
  }
  for (let i = 0; i < 4; i++) writeFileSync(join(sample, `f${i}`), `This is file f${i} in root.`);
  const empty = at("d/empty_folder_model");
  const withEmpty = at("e/empty_file_inside_model");
  writeFileSync(join(withEmpty, "empty_file"), "");
  const deep = at("f/deep_model");
  let current = deep;
  for (let i = 0; i < 5; i++) current = at(join(current.slice(base.length + 1), `d${i}`));
  for (let i = 0; i < 4; i++) writeFileSync(join(current, `f${i}`), `This is file f${i}.`);
  const external = join(at("g/external"), "file");
  writeFileSync(external, "This is a simple model");
  const symlinked = at("g/symlink_model");
  symlinkSync(external, join(symlinked, "symlink_file"));
  return {
    sample_model_file: sampleFile,
    empty_model_file: emptyFile,
    sample_model_folder: sample,
    empty_model_folder: empty,
    model_folder_with_empty_file: withEmpty,
    deep_model_folder: deep,
    symlink_model_folder: symlinked,
  };
}

describe("signing: statements and bundles like the reference implementation's", () => {
  let scratch: { home: string; cleanup: () => void };
  before(() => (scratch = tempHome()));
  after(() => scratch.cleanup());

  it("every golden payload satisfies the root-digest rule; a changed resource digest breaks it", () => {
    const names = readdirSync(GOLDEN);
    assert.equal(names.length, 21);
    for (const name of names) {
      const bytes = readFileSync(join(GOLDEN, name));
      const statement = parseModelStatement(bytes);
      const json = JSON.parse(bytes.toString("utf8"));
      const hash = createHash("sha256");
      for (const r of json.predicate.resources) hash.update(Buffer.from(r.digest, "hex"));
      assert.equal(hash.digest("hex"), json.subject[0].digest.sha256, name);
      assert.equal(statement.rootDigest, json.subject[0].digest.sha256);
      if (json.predicate.resources.length > 0) {
        json.predicate.resources[0].digest = "00".repeat(32);
        assert.throws(() => parseModelStatement(Buffer.from(JSON.stringify(json))), (e: unknown) =>
          isEdgeError(e) && e.code === "signature_invalid" && /root digest is .* but the listed resources hash to/.test(e.message));
      }
    }
  });

  it("hashing the golden models reproduces the golden statements byte for byte", async () => {
    const models = buildGoldenModels(join(scratch.home, "golden-models"));
    for (const [golden, path] of Object.entries(models)) {
      const hashed = await hashModelFiles(path, { allowSymlinks: true });
      const ours = encodeModelStatement({ modelName: hashed.name, resources: hashed.resources, allowSymlinks: true, ignorePaths: [] });
      assert.equal(ours.toString("utf8"), readFileSync(join(GOLDEN, golden), "utf8").trimEnd(), golden);
    }
    await assert.rejects(hashModelFiles(models.symlink_model_folder!), (e: unknown) => isEdgeError(e) && e.code === "unsupported" && /symbolic link/.test(e.message));
  });

  it("edgelm sign (key method) writes the v1.1 fixture's structure and hint, and verifies", async () => {
    const dir = join(scratch.home, "key-model");
    cpSync(join(FIXTURES, "v1.1.0-elliptic-key"), dir, { recursive: true });
    rmSync(join(dir, "model.sig"));
    const signed = await signModel(dir, { privateKey: createPrivateKey(readFileSync(PRIVATE_KEY)), ignorePaths: ["ignore-me"] });
    const ours = JSON.parse(readFileSync(signed.signaturePath, "utf8"));
    const theirs = JSON.parse(readFileSync(join(FIXTURES, "v1.1.0-elliptic-key/model.sig"), "utf8"));
    assertSameShape(ours, theirs, "bundle");
    assert.equal(ours.verificationMaterial.publicKey.hint, KEY_HINT);
    assert.equal(ours.verificationMaterial.publicKey.hint, theirs.verificationMaterial.publicKey.hint);
    const ourStatement = JSON.parse(Buffer.from(ours.dsseEnvelope.payload, "base64").toString("utf8"));
    const theirStatement = JSON.parse(Buffer.from(theirs.dsseEnvelope.payload, "base64").toString("utf8"));
    assertSameShape(ourStatement, theirStatement, "statement");
    // Same files, so the same resources and root digest; the name is the folder's.
    assert.deepEqual(ourStatement.predicate.resources, theirStatement.predicate.resources);
    assert.equal(ourStatement.subject[0].digest.sha256, theirStatement.subject[0].digest.sha256);
    assert.deepEqual([...ourStatement.predicate.serialization.ignore_paths].sort(), [...theirStatement.predicate.serialization.ignore_paths].sort());
    const verified = await verifyModelSignature(readFileSync(signed.signaturePath), { kind: "path", path: dir }, loadTrustAnchors({ keys: [PUBLIC_KEY] }));
    assert.equal(verified.signer.method === "key" && verified.signer.keyHint, KEY_HINT);
  });

  it("edgelm sign (certificate method) carries the same chain as the v1.1 fixture and verifies to the root CA", async () => {
    const dir = join(scratch.home, "cert-model");
    cpSync(join(FIXTURES, "v1.1.0-certificate"), dir, { recursive: true });
    rmSync(join(dir, "model.sig"));
    const signed = await signModel(dir, {
      privateKey: createPrivateKey(readFileSync(PRIVATE_KEY)),
      certificate: new X509Certificate(readFileSync(join(KEYS, "signing-key-cert.pem"))),
      chain: [new X509Certificate(readFileSync(join(KEYS, "int-ca-cert.pem")))],
      ignorePaths: ["ignore-me"],
    });
    const ours = JSON.parse(readFileSync(signed.signaturePath, "utf8"));
    const theirs = JSON.parse(readFileSync(join(FIXTURES, "v1.1.0-certificate/model.sig"), "utf8"));
    assertSameShape(ours, theirs, "bundle");
    assert.deepEqual(ours.verificationMaterial.x509CertificateChain, theirs.verificationMaterial.x509CertificateChain);
    const verified = await verifyModelSignature(readFileSync(signed.signaturePath), { kind: "path", path: dir }, loadTrustAnchors({ rootCas: [ROOT_CA] }));
    assert.equal(verified.signer.method === "certificate" && verified.signer.subject, "CN=intermediate-ca");
  });

  for (const curve of ["P-256", "P-384", "P-521"] as EcCurve[]) {
    it(`round-trips a single-file model signed with an ${curve} key`, async () => {
      const pair = generateEcKeyPair(curve);
      const dir = join(scratch.home, `single-${curve}`);
      mkdirSync(dir);
      const file = join(dir, "weights.gguf");
      writeFileSync(file, `weights for ${curve}`);
      const signed = await signModel(file, { privateKey: createPrivateKey(pair.privatePem) });
      assert.equal(signed.signaturePath, join(dir, "model.sig"));
      assert.deepEqual(signed.resources.map((r) => r.name), ["."]);
      const anchors = { keys: [trustedKeyFromPem(pair.publicPem, "test")], rootCas: [], identities: [] };
      const verified = await verifyModelSignature(readFileSync(signed.signaturePath), { kind: "path", path: file }, anchors);
      assert.equal(verified.signer.method === "key" && verified.signer.curve, curve);
      assert.equal(verified.modelName, "weights.gguf");
    });
  }

  it("refuses to sign a folder holding a symlink, and a symlink added after signing fails verification", async () => {
    const dir = join(scratch.home, "links");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.bin"), "a");
    const pair = generateEcKeyPair();
    const signed = await signModel(dir, { privateKey: createPrivateKey(pair.privatePem) });
    symlinkSync(join(dir, "a.bin"), join(dir, "b.bin"));
    const anchors = { keys: [trustedKeyFromPem(pair.publicPem, "test")], rootCas: [], identities: [] };
    await assert.rejects(verifyModelSignature(readFileSync(signed.signaturePath), { kind: "path", path: dir }, anchors), (e: unknown) =>
      isEdgeError(e) && e.code === "unsupported" && /b\.bin is a symbolic link; the signature does not allow symlinks/.test(e.message));
    await assert.rejects(signModel(dir, { privateKey: createPrivateKey(pair.privatePem) }), (e: unknown) => isEdgeError(e) && e.code === "unsupported");
  });
});

/** Same keys at every level (the bundle's own key order too), same value types; values may differ. */
function assertSameShape(ours: unknown, theirs: unknown, path: string): void {
  if (Array.isArray(theirs)) {
    assert.ok(Array.isArray(ours), `${path} should be an array`);
    if (theirs.length > 0 && ours.length > 0) assertSameShape(ours[0], theirs[0], `${path}[0]`);
    return;
  }
  if (theirs !== null && typeof theirs === "object") {
    assert.ok(ours !== null && typeof ours === "object" && !Array.isArray(ours), `${path} should be an object`);
    const theirKeys = Object.keys(theirs);
    const ourKeys = Object.keys(ours as object);
    // Key order is fixed everywhere except inside the predicate, which v1.1 writes in hash order.
    if (!path.startsWith("statement.predicate")) assert.deepEqual(ourKeys, theirKeys, `${path} keys`);
    else assert.deepEqual([...ourKeys].sort(), [...theirKeys].sort(), `${path} keys`);
    for (const key of theirKeys) assertSameShape((ours as Record<string, unknown>)[key], (theirs as Record<string, unknown>)[key], `${path}.${key}`);
    return;
  }
  assert.equal(typeof ours, typeof theirs, `${path} type`);
}
