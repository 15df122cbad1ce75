import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isEdgeError, type ErrorCode } from "../../src/errors.js";
import { diffResources } from "../../src/trust/model-signing/compare-resources.js";
import { dssePreAuthEncoding } from "../../src/trust/model-signing/dsse-pae.js";
import { ignorePathsFromUser, isIgnoredPath, normalizeIgnorePath } from "../../src/trust/model-signing/ignore-paths.js";
import { compareResourceNames } from "../../src/trust/model-signing/model-resource.js";
import { parseModelStatement } from "../../src/trust/model-signing/model-statement.js";
import { parseSignatureBundle } from "../../src/trust/model-signing/signature-bundle.js";
import { decodeBase64Field } from "../../src/trust/model-signing/strict-base64.js";
import { loadTrustAnchors } from "../../src/trust/model-signing/trust-anchors.js";
import { verifyModelSignature } from "../../src/trust/model-signing/verify-model-signature.js";
import { certificateKeyUsage } from "../../src/trust/model-signing/x509-key-usage.js";
import { FIXTURES, KEYS, PUBLIC_KEY } from "./signing-fixtures.js";

function throwsCode(fn: () => unknown, code: ErrorCode, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isEdgeError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

const keyBundle = () => JSON.parse(readFileSync(join(FIXTURES, "v1.1.0-elliptic-key/model.sig"), "utf8"));
const encode = (value: unknown) => Buffer.from(JSON.stringify(value));

describe("model signing building blocks", () => {
  it("DSSE pre-authentication encoding matches the spec's example", () => {
    assert.equal(
      dssePreAuthEncoding("http://example.com/HelloWorld", Buffer.from("hello world")).toString(),
      "DSSEv1 29 http://example.com/HelloWorld 11 hello world",
    );
    // Lengths are bytes, not characters.
    assert.equal(dssePreAuthEncoding("t", Buffer.from("é")).toString("utf8"), "DSSEv1 1 t 2 é");
  });

  it("base64 fields are decoded strictly", () => {
    assert.equal(decodeBase64Field("aGk=", "x").toString(), "hi");
    assert.equal(decodeBase64Field("aGk", "x").toString(), "hi");
    assert.equal(decodeBase64Field("-_8=", "x").toString("hex"), "fbff");
    for (const bad of ["a", "aGk=x", "aG!k", "aGk===", 5]) throwsCode(() => decodeBase64Field(bad, "f"), "signature_invalid", /f (is not valid base64|must be a base64 string)/);
  });

  it("a malformed or foreign model.sig is refused with a precise code", () => {
    throwsCode(() => parseSignatureBundle(Buffer.from("{not json")), "signature_invalid", /not JSON/);
    throwsCode(() => parseSignatureBundle(encode({ ...keyBundle(), mediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1" })), "unsupported", /media type/);
    const twoSigs = keyBundle();
    twoSigs.dsseEnvelope.signatures.push(twoSigs.dsseEnvelope.signatures[0]);
    throwsCode(() => parseSignatureBundle(encode(twoSigs)), "signature_invalid", /exactly one signature \(found 2\)/);
    const noMaterial = keyBundle();
    delete noMaterial.verificationMaterial.publicKey;
    throwsCode(() => parseSignatureBundle(encode(noMaterial)), "signature_invalid", /exactly one of publicKey/);
    const badHint = keyBundle();
    badHint.verificationMaterial.publicKey.hint = "xyz";
    throwsCode(() => parseSignatureBundle(encode(badHint)), "signature_invalid", /hint must be a hex SHA-256/);
    const bundle = parseSignatureBundle(readFileSync(join(FIXTURES, "v1.0.1-elliptic-key/model.sig")));
    assert.equal(bundle.material.kind, "public-key");
    assert.match(bundle.material.kind === "public-key" ? bundle.material.rawKey!.toString() : "", /BEGIN PUBLIC KEY/);
  });

  it("statements of another version or shape are refused", () => {
    const base = JSON.parse(parseSignatureBundle(encode(keyBundle())).payload.toString());
    throwsCode(() => parseModelStatement(encode({ ...base, predicateType: "https://model_signing/Digests/v0.1" })), "unsupported", /v0\.2 format/);
    throwsCode(() => parseModelStatement(encode({ ...base, _type: "https://in-toto.io/Statement/v0.1" })), "unsupported", /not an in-toto Statement v1/);
    throwsCode(() => parseModelStatement(encode({ ...base, subject: [] })), "signature_invalid", /exactly one subject/);
    const dup = structuredClone(base);
    dup.predicate.resources.push(dup.predicate.resources[0]);
    throwsCode(() => parseModelStatement(encode(dup)), "signature_invalid", /listed twice/);
  });

  it("ignore paths: normalized, prefix-matched by component, resolved from the working directory", () => {
    assert.equal(normalizeIgnorePath("./a//b/"), "a/b");
    assert.equal(normalizeIgnorePath("."), undefined);
    assert.equal(normalizeIgnorePath("../x"), undefined);
    assert.ok(isIgnoredPath(".git/config", [".git"]));
    assert.ok(!isIgnoredPath(".gitignore-not", [".gitignore"]));
    assert.deepEqual(ignorePathsFromUser("/models/m", ["/models/m/skip", "rel/x", "/elsewhere"], "/models"), ["rel/x", "skip"]);
    assert.deepEqual(ignorePathsFromUser("/models/m", ["m/sub"], "/models"), ["sub"]);
  });

  it("resources sort by path components, as the reference implementation sorts them", () => {
    assert.deepEqual(["a-c", "a/b", "a", "b"].sort(compareResourceNames), ["a", "a/b", "a-c", "b"]);
  });

  it("reads KeyUsage from certificates (which node:crypto does not expose)", () => {
    const leaf = new X509Certificate(readFileSync(join(KEYS, "signing-key-cert.pem")));
    const ca = new X509Certificate(readFileSync(join(KEYS, "ca-cert.pem")));
    assert.deepEqual(certificateKeyUsage(leaf.raw), { digitalSignature: true, keyCertSign: false });
    assert.equal(certificateKeyUsage(ca.raw)?.keyCertSign, true);
    assert.throws(() => certificateKeyUsage(leaf.raw.subarray(0, 100)));
  });

  it("compares a signature with a store manifest ({name, sha256} list) without reading files", async () => {
    const signature = readFileSync(join(FIXTURES, "v1.1.0-elliptic-key/model.sig"));
    const anchors = loadTrustAnchors({ keys: [PUBLIC_KEY] });
    const files = [
      { name: "signme-1", sha256: "bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc" },
      { name: "signme-2", sha256: "32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028" },
      { name: "ignore-me", sha256: "00".repeat(32) },
    ];
    const verified = await verifyModelSignature(signature, { kind: "files", name: "m:1", files }, anchors);
    assert.equal(verified.resources.length, 2);
    await assert.rejects(
      verifyModelSignature(signature, { kind: "files", name: "m:1", files: [files[0]!, { ...files[1]!, sha256: "11".repeat(32) }] }, anchors),
      (e: unknown) => isEdgeError(e) && e.code === "integrity_mismatch" && /^m:1 does not match its signature: signme-2 changed/.test(e.message),
    );
    // A single-file signature (".") matches a manifest that names its one file.
    const single = readFileSync(join(FIXTURES, "v1.0.0-elliptic-key/model.sig"));
    await verifyModelSignature(single, { kind: "files", name: "s", files: [{ name: "model.gguf", sha256: files[0]!.sha256 }] }, anchors);
    assert.deepEqual(diffResources([{ name: "a", sha256: "1" }], [{ name: "b", sha256: "1" }]), { extra: ["b"], missing: ["a"], changed: [] });
  });
});
