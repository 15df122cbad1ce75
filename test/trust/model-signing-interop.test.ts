/**
 * Interoperability with the reference implementation: the nine fixtures signed
 * by model_signing v1.0.0, v1.0.1 and v1.1.0 (key, certificate, keyless) verify
 * with the right trust input and fail, each for its own reason, with the wrong
 * one or after any damage to the model or the signature.
 */
import assert from "node:assert/strict";
import { appendFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isEdgeError, type ErrorCode } from "../../src/errors.js";
import { generateEcKeyPair } from "../../src/trust/model-signing/ec-keys.js";
import { loadTrustAnchors, type TrustAnchorFiles } from "../../src/trust/model-signing/trust-anchors.js";
import { verifyModelSignature } from "../../src/trust/model-signing/verify-model-signature.js";
import { tempHome } from "../helpers.js";
import { copyCase, FIXTURES, flipBit, flipBundleBit, IDENTITY, KEY_HINT, otherRootCaPem, otherTrustedRootJson, SIGNING_CASES, type SigningCase } from "./signing-fixtures.js";

async function verifyCase(c: SigningCase, anchors: TrustAnchorFiles, dir = join(FIXTURES, c.name), options: { model?: string; ignore?: string[] } = {}) {
  const signature = readFileSync(join(dir, "model.sig"));
  const model = join(dir, options.model ?? c.model);
  return verifyModelSignature(signature, { kind: "path", path: model }, loadTrustAnchors(anchors), { ignorePaths: options.ignore ?? c.ignorePaths });
}

async function assertFails(promise: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isEdgeError(error), `expected an EdgeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
}

describe("OpenSSF Model Signing interop fixtures", () => {
  let scratch: { home: string; cleanup: () => void };
  let otherKey: string;
  let otherRoot: string;
  let otherTrustedRoot: string;
  before(() => {
    scratch = tempHome();
    otherKey = join(scratch.home, "other-pub.pem");
    writeFileSync(otherKey, generateEcKeyPair("P-384").publicPem);
    otherRoot = join(scratch.home, "other-root.pem");
    writeFileSync(otherRoot, otherRootCaPem());
    otherTrustedRoot = join(scratch.home, "other-trusted-root.json");
    writeFileSync(otherTrustedRoot, otherTrustedRootJson());
  });
  after(() => scratch.cleanup());

  for (const c of SIGNING_CASES) {
    describe(c.name, () => {
      it("verifies with the right trust input: signer, files and root digest", async () => {
        const verified = await verifyCase(c, c.anchors);
        assert.equal(verified.signer.method, c.method);
        if (verified.signer.method === "key") {
          assert.equal(verified.signer.keyHint, KEY_HINT);
          assert.equal(verified.signer.curve, "P-384");
        }
        if (verified.signer.method === "certificate") {
          assert.equal(verified.signer.subject, "CN=intermediate-ca");
          assert.equal(verified.signer.root, "CN=root-ca");
        }
        if (verified.signer.method === "keyless") assert.deepEqual({ identity: verified.signer.identity, issuer: verified.signer.issuer }, IDENTITY);
        assert.deepEqual(Object.fromEntries(verified.resources.map((r) => [r.name, r.sha256])), c.files);
        assert.equal(verified.rootDigest, c.rootDigest);
      });

      it("fails with an untrusted key, root or identity", async () => {
        if (c.method === "key") {
          await assertFails(verifyCase(c, { keys: [otherKey] }), "untrusted_signer", new RegExp(`signed by key ${KEY_HINT}, which is not a trusted key`));
        } else if (c.method === "certificate") {
          await assertFails(verifyCase(c, { rootCas: [otherRoot] }), "untrusted_signer", /does not chain to a trusted root CA/);
        } else {
          await assertFails(verifyCase(c, { ...c.anchors, identities: [{ ...IDENTITY, identity: "someone@example.com" }] }), "untrusted_signer", /signed by stefanb@us\.ibm\.com .* not a trusted identity/);
          await assertFails(verifyCase(c, { ...c.anchors, identities: [{ ...IDENTITY, issuer: "https://accounts.google.com" }] }), "untrusted_signer", /not a trusted identity/);
          await assertFails(verifyCase(c, { ...c.anchors, sigstoreTrustedRoot: otherTrustedRoot }), "untrusted_signer", /not vouched for by the trusted root/);
        }
      });

      it("fails when a byte of any signed file changes", async () => {
        for (const name of Object.keys(c.files)) {
          const copy = copyCase(c.name);
          try {
            flipBit(join(copy.dir, name === "." ? c.model : name), 0);
            await assertFails(verifyCase(c, c.anchors, copy.dir), "integrity_mismatch", new RegExp(`${name === "." ? "the file" : name} changed \\(signed sha256 ${c.files[name]}, now [0-9a-f]{64}\\)`));
          } finally {
            copy.cleanup();
          }
        }
      });

      it("fails with an extra file and with a missing file", async () => {
        const copy = copyCase(c.name);
        try {
          writeFileSync(join(copy.dir, "extra.bin"), "not signed");
          if (c.model === "") {
            await assertFails(verifyCase(c, c.anchors, copy.dir), "integrity_mismatch", /extra\.bin is not covered by the signature/);
            rmSync(join(copy.dir, "extra.bin"));
            rmSync(join(copy.dir, "signme-2"));
            await assertFails(verifyCase(c, c.anchors, copy.dir), "integrity_mismatch", /signme-2 is signed but missing/);
          } else {
            // A single-file signature: its folder verifies as the file it names, whatever else lies beside it ...
            const asFolder = await verifyCase(c, c.anchors, copy.dir, { model: "" });
            assert.equal(asFolder.signedFile?.path, join(copy.dir, c.model));
            assert.deepEqual(asFolder.signedFile?.notCovered, ["extra.bin"]);
            assert.equal(asFolder.rootDigest, c.rootDigest);
            // ... and without that file neither the file nor the folder verifies.
            rmSync(join(copy.dir, c.model));
            await assertFails(verifyCase(c, c.anchors, copy.dir), "file_not_found", /signme-1/);
            await assertFails(verifyCase(c, c.anchors, copy.dir, { model: "" }), "integrity_mismatch", /signs the single file "signme-1", which is not in that folder/);
          }
        } finally {
          copy.cleanup();
        }
      });

      it("fails with a flipped bit in the signature and in the payload", async () => {
        for (const field of ["sig", "payload"] as const) {
          const copy = copyCase(c.name);
          try {
            flipBundleBit(join(copy.dir, "model.sig"), field);
            await assertFails(verifyCase(c, c.anchors, copy.dir), "signature_invalid", /does not verify|was altered/);
          } finally {
            copy.cleanup();
          }
        }
      });
    });
  }

  it("v1.0.1 did not record ignore-me: without the caller's --ignore-paths it is an extra file", async () => {
    const c = SIGNING_CASES.find((x) => x.name === "v1.0.1-elliptic-key")!;
    await assertFails(verifyCase(c, c.anchors, undefined, { ignore: [] }), "integrity_mismatch", /ignore-me is not covered/);
  });

  it("v1.1 recorded ignore-me in ignore_paths: a file appended under it is still ignored", async () => {
    const c = SIGNING_CASES.find((x) => x.name === "v1.1.0-certificate")!;
    const copy = copyCase(c.name);
    try {
      appendFileSync(join(copy.dir, "ignore-me"), "anything");
      assert.equal((await verifyCase(c, c.anchors, copy.dir)).resources.length, 2);
    } finally {
      copy.cleanup();
    }
  });

  it("a changed key hint is a key mismatch", async () => {
    const c = SIGNING_CASES.find((x) => x.name === "v1.1.0-elliptic-key")!;
    const copy = copyCase(c.name);
    try {
      const path = join(copy.dir, "model.sig");
      writeFileSync(path, readFileSync(path, "utf8").replace(KEY_HINT, "0".repeat(64)));
      await assertFails(verifyCase(c, c.anchors, copy.dir), "untrusted_signer", /signed by key 0{64}, which is not a trusted key/);
    } finally {
      copy.cleanup();
    }
  });
});
