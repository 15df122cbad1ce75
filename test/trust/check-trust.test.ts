import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import type { Config, ConfigInput } from "../../src/config/schema.js";
import { DEMO_MODEL_PATH } from "../../src/demo/demo-model-file.js";
import { isEdgeError, type ErrorCode } from "../../src/errors.js";
import { checkTrust } from "../../src/trust/check-trust.js";
import { generateEcKeyPair } from "../../src/trust/model-signing/ec-keys.js";
import { signModel } from "../../src/trust/model-signing/sign-model.js";
import { tempHome } from "../helpers.js";
import { FIXTURES, PUBLIC_KEY } from "./signing-fixtures.js";

function configWith(home: string, trust: NonNullable<ConfigInput["trust"]>): Config {
  return loadConfig({ flags: { home, trust }, env: {}, cwd: home }).config;
}

async function refuses(promise: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => isEdgeError(e) && e.code === code && pattern.test(e.message) && !e.message.includes("\n"));
}

describe("trust policy (checkTrust)", () => {
  let home: string;
  let cleanup: () => void;
  let keys: { trusted: ReturnType<typeof generateEcKeyPair>; other: ReturnType<typeof generateEcKeyPair> };
  let trustedPub: string;
  before(() => {
    ({ home, cleanup } = tempHome());
    keys = { trusted: generateEcKeyPair(), other: generateEcKeyPair("P-384") };
    trustedPub = join(home, "trusted.pem");
    writeFileSync(trustedPub, keys.trusted.publicPem);
  });
  after(() => cleanup());

  async function signedFolder(name: string, privatePem: string): Promise<string> {
    const dir = join(home, name);
    mkdirSync(dir);
    writeFileSync(join(dir, "weights.gguf"), `weights of ${name}`);
    writeFileSync(join(dir, "README.md"), "a model card");
    await signModel(dir, { privateKey: createPrivateKey(privatePem) });
    return dir;
  }

  it("trusts the built-in demo model by its pinned hash, with or without require_signature", async () => {
    for (const require_signature of [false, true]) {
      const outcome = await checkTrust({ kind: "path", path: DEMO_MODEL_PATH }, configWith(home, { require_signature }));
      assert.equal(outcome.status, "pinned");
    }
    const copy = join(home, "demo-copy.gguf");
    copyFileSync(DEMO_MODEL_PATH, copy);
    assert.equal((await checkTrust({ kind: "path", path: copy }, configWith(home, { require_signature: true }))).status, "pinned");
  });

  it("an unsigned model is reported, and refused under require_signature", async () => {
    const dir = join(home, "unsigned");
    mkdirSync(dir);
    writeFileSync(join(dir, "m.gguf"), "no signature here");
    const path = join(dir, "m.gguf");
    assert.equal((await checkTrust({ kind: "path", path }, configWith(home, {}))).status, "unsigned");
    await refuses(checkTrust({ kind: "path", path }, configWith(home, { require_signature: true })), "signature_missing", /refusing .*m\.gguf: it is unsigned and trust\.require_signature is on/);
  });

  it("a model signed by a trusted key is accepted: as a folder and as a file in it", async () => {
    const dir = await signedFolder("good", keys.trusted.privatePem);
    const config = configWith(home, { require_signature: true, keys: [trustedPub] });
    for (const path of [dir, join(dir, "weights.gguf")]) {
      const outcome = await checkTrust({ kind: "path", path }, config);
      assert.equal(outcome.status, "signed");
      assert.equal(outcome.signer?.method === "key" && outcome.signer.keyHint, keys.trusted.hint);
      assert.deepEqual(outcome.files?.map((f) => f.name), ["README.md", "weights.gguf"]);
      assert.match(outcome.summary, new RegExp(`signed by key ${keys.trusted.hint}`));
    }
  });

  it("reuses the digest the load path already computed instead of reading the file again", async () => {
    const dir = await signedFolder("known-digest", keys.trusted.privatePem);
    const config = configWith(home, { require_signature: true, keys: [trustedPub] });
    const path = join(dir, "weights.gguf");
    await refuses(checkTrust({ kind: "path", path, sha256: "ab".repeat(32) }, config), "integrity_mismatch", new RegExp(`weights\\.gguf changed \\(signed sha256 [0-9a-f]{64}, now ${"ab".repeat(32)}\\)`));
  });

  it("an untrusted signer is refused under require_signature and reported without it", async () => {
    const dir = await signedFolder("untrusted", keys.other.privatePem);
    const path = join(dir, "weights.gguf");
    await refuses(checkTrust({ kind: "path", path }, configWith(home, { require_signature: true, keys: [trustedPub] })), "untrusted_signer", new RegExp(`signed by key ${keys.other.hint}, which is not a trusted key`));
    await refuses(checkTrust({ kind: "path", path }, configWith(home, { require_signature: true })), "untrusted_signer", /no trusted public key was given/);
    const outcome = await checkTrust({ kind: "path", path }, configWith(home, { keys: [trustedPub] }));
    assert.equal(outcome.status, "invalid");
    assert.equal(outcome.error?.code, "untrusted_signer");
  });

  it("files changed after signing are refused", async () => {
    const dir = await signedFolder("tampered", keys.trusted.privatePem);
    appendFileSync(join(dir, "weights.gguf"), "!");
    await refuses(
      checkTrust({ kind: "path", path: join(dir, "weights.gguf") }, configWith(home, { require_signature: true, keys: [trustedPub] })),
      "integrity_mismatch",
      /refusing .*weights\.gguf: .* does not match its signature: weights\.gguf changed \(signed sha256 [0-9a-f]{64}, now [0-9a-f]{64}\)/,
    );
    const added = await signedFolder("added", keys.trusted.privatePem);
    writeFileSync(join(added, "extra.gguf"), "slipped in");
    await refuses(checkTrust({ kind: "path", path: join(added, "weights.gguf") }, configWith(home, { require_signature: true, keys: [trustedPub] })), "integrity_mismatch", /extra\.gguf is not covered/);
  });

  it("a single-file signature beside another file does not speak for it", async () => {
    const dir = join(home, "two-files");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.gguf"), "a");
    writeFileSync(join(dir, "b.gguf"), "b");
    await signModel(join(dir, "a.gguf"), { privateKey: createPrivateKey(keys.trusted.privatePem) });
    const config = configWith(home, { keys: [trustedPub] });
    assert.equal((await checkTrust({ kind: "path", path: join(dir, "a.gguf") }, config)).status, "signed");
    assert.equal((await checkTrust({ kind: "path", path: join(dir, "b.gguf") }, config)).status, "unsigned");
    // The folder itself is checked as the file its single-file signature names.
    assert.equal((await checkTrust({ kind: "path", path: dir }, config)).status, "signed");
  });

  it("a variant signed with trust.local_key passes the device's own policy", async () => {
    const localKey = join(home, "local.pem");
    const local = generateEcKeyPair();
    writeFileSync(localKey, local.privatePem);
    const dir = await signedFolder("variant", local.privatePem);
    const outcome = await checkTrust({ kind: "path", path: dir }, configWith(home, { require_signature: true, local_key: localKey }));
    assert.equal(outcome.signer?.method === "key" && outcome.signer.keyHint, local.hint);
  });

  it("store-style subjects: files with digests and the model.sig bytes, nothing re-hashed", async () => {
    const config = configWith(home, { require_signature: true, keys: [PUBLIC_KEY] });
    const signature = readFileSync(join(FIXTURES, "v1.1.0-elliptic-key/model.sig"));
    const files = [
      { name: "signme-1", sha256: "bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc" },
      { name: "signme-2", sha256: "32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028" },
    ];
    assert.equal((await checkTrust({ kind: "files", name: "fixture:1", files, signature }, config)).status, "signed");
    await refuses(checkTrust({ kind: "files", name: "fixture:1", files }, config), "signature_missing", /refusing fixture:1: it is unsigned/);
    await refuses(checkTrust({ kind: "files", name: "fixture:1", files: files.slice(0, 1), signature }, config), "integrity_mismatch", /signme-2 is signed but missing/);
  });

  it("a trust section naming a missing key file is a config error naming the field", async () => {
    await refuses(checkTrust({ kind: "path", path: join(FIXTURES, "v1.1.0-elliptic-key") }, configWith(home, { keys: ["/nonexistent/key.pem"] })), "invalid_config", /^trust\.keys: cannot read public key \/nonexistent\/key\.pem/);
  });
});
