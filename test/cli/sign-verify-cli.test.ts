/**
 * keygen, sign and verify through the real CLI, and the trust policy refusing
 * models in `run` and `inspect` before they are loaded.
 */
import assert from "node:assert/strict";
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli, tempHome, TEST_MODEL, type CliResult } from "../helpers.js";
import { FIXTURES, IDENTITY, KEY_HINT, PUBLIC_KEY, ROOT_CA, TRUSTED_ROOT } from "../trust/signing-fixtures.js";

function oneLineError(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

describe("edgelm keygen / sign / verify (CLI)", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  before(() => {
    ({ home, cleanup } = tempHome());
    env = { EDGELM_HOME: home };
  });
  after(() => cleanup());

  it("verifies the reference fixtures: key, certificate and keyless, printing signer and files", async () => {
    const key = await runCli(["verify", join(FIXTURES, "v1.1.0-elliptic-key"), "--key", PUBLIC_KEY], { env });
    assert.equal(key.code, 0, key.stderr);
    assert.match(key.stdout, new RegExp(`signed by\\s+key ${KEY_HINT} \\(ECDSA P-384\\)`));
    assert.match(key.stdout, /files \(2\)\n\s+signme-1\s+bc9a717d[0-9a-f]+\n\s+signme-2\s+32dcb1f8/);
    const cert = await runCli(["verify", join(FIXTURES, "v1.0.0-certificate"), "--root-ca", ROOT_CA, "--json"], { env });
    assert.equal(cert.code, 0, cert.stderr);
    const certOut = JSON.parse(cert.stdout);
    assert.equal(certOut.method, "certificate");
    assert.equal(certOut.signer.subject, "CN=intermediate-ca");
    assert.deepEqual(certOut.files.map((f: { name: string }) => f.name), ["signme-1", "signme-2"]);
    const keyless = await runCli(
      ["verify", join(FIXTURES, "v1.0.1-sigstore"), "--identity", IDENTITY.identity, "--issuer", IDENTITY.issuer, "--trusted-root", TRUSTED_ROOT, "--ignore-paths", join(FIXTURES, "v1.0.1-sigstore/ignore-me")],
      { env },
    );
    assert.equal(keyless.code, 0, keyless.stderr);
    assert.match(keyless.stdout, /signed by\s+stefanb@us\.ibm\.com \(Sigstore keyless, issuer https:\/\/sigstore\.verify\.ibm\.com\/oauth2\)/);
  });

  it("keygen, sign and verify round-trip a model folder; damage and the wrong key fail with exit 4", async () => {
    const keys = join(home, "keys");
    const gen = await runCli(["keygen", "--out", keys, "--curve", "p384", "--json"], { env });
    assert.equal(gen.code, 0, gen.stderr);
    const pair = JSON.parse(gen.stdout);
    assert.equal(pair.curve, "P-384");
    assert.equal(statSync(pair.private_key).mode & 0o777, 0o600);
    assert.match(readFileSync(pair.private_key, "utf8"), /^-----BEGIN PRIVATE KEY-----/);
    assert.match(readFileSync(pair.public_key, "utf8"), /^-----BEGIN PUBLIC KEY-----/);
    oneLineError(await runCli(["keygen", "--out", keys], { env }), 2, /private\.pem already exists; pass --force/);

    const model = join(home, "model");
    mkdirSync(model);
    copyFileSync(TEST_MODEL, join(model, "stories.gguf"));
    writeFileSync(join(model, "notes.txt"), "left out");
    const sign = await runCli(["sign", model, "--key", pair.private_key, "--ignore-paths", "notes.txt", "--json"], { env });
    assert.equal(sign.code, 0, sign.stderr);
    const signed = JSON.parse(sign.stdout);
    assert.equal(signed.signature, join(model, "model.sig"));
    assert.equal(signed.signed_by, pair.hint);
    assert.deepEqual(signed.files.map((f: { name: string }) => f.name), ["stories.gguf"]);
    assert.ok(signed.ignored.includes("notes.txt"));

    const ok = await runCli(["verify", model, "--key", pair.public_key, "--json"], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).signer.keyHint, pair.hint);

    oneLineError(await runCli(["verify", model, "--key", PUBLIC_KEY], { env }), 4, new RegExp(`signed by key ${pair.hint}, which is not a trusted key`));
    oneLineError(await runCli(["verify", model], { env }), 2, /say whom to trust: --key public\.pem/);
    writeFileSync(join(model, "extra.bin"), "x");
    oneLineError(await runCli(["verify", model, "--key", pair.public_key], { env }), 4, /extra\.bin is not covered by the signature/);
    oneLineError(await runCli(["verify", keys, "--key", pair.public_key], { env }), 4, /has no signature: .*model\.sig does not exist/);
  });

  it("a folder holding a single-file signature verifies as that file: verify <folder> passes exactly when verify <file> does", async () => {
    const keys = join(home, "single-keys");
    assert.equal((await runCli(["keygen", "--out", keys], { env })).code, 0);
    const folder = join(home, "single");
    mkdirSync(folder);
    copyFileSync(TEST_MODEL, join(folder, "stories.gguf"));
    writeFileSync(join(folder, "README.md"), "not part of the signed file");
    const sign = await runCli(["sign", join(folder, "stories.gguf"), "--key", join(keys, "private.pem"), "--json"], { env });
    assert.equal(sign.code, 0, sign.stderr);
    assert.equal(JSON.parse(sign.stdout).signature, join(folder, "model.sig"));
    const key = ["--key", join(keys, "public.pem")];
    const asFile = await runCli(["verify", join(folder, "stories.gguf"), ...key, "--json"], { env });
    assert.equal(asFile.code, 0, asFile.stderr);
    const asFolder = await runCli(["verify", folder, ...key, "--json"], { env });
    assert.equal(asFolder.code, 0, asFolder.stderr);
    const out = JSON.parse(asFolder.stdout);
    assert.equal(out.root_digest, JSON.parse(asFile.stdout).root_digest);
    assert.equal(out.signed_file, join(folder, "stories.gguf"));
    assert.deepEqual(out.not_covered, ["README.md"]);
    const text = await runCli(["verify", folder, ...key], { env });
    assert.match(text.stdout, /signed file\s+.*stories\.gguf \(a single-file signature\)\n\s+not covered\s+README\.md\n/);
    // The reference tool's single-file fixture, given as its folder.
    const fixture = await runCli(["verify", join(FIXTURES, "v1.0.0-elliptic-key"), "--key", PUBLIC_KEY, "--json"], { env });
    assert.equal(fixture.code, 0, fixture.stderr);
    assert.equal(JSON.parse(fixture.stdout).signed_file, join(FIXTURES, "v1.0.0-elliptic-key", "signme-1"));

    // Damage fails both ways, for the same reason.
    appendFileSync(join(folder, "stories.gguf"), "x");
    oneLineError(await runCli(["verify", join(folder, "stories.gguf"), ...key], { env }), 4, /the file changed \(signed sha256/);
    oneLineError(await runCli(["verify", folder, ...key], { env }), 4, /the file changed \(signed sha256/);
    // A renamed file is not what the signature names.
    copyFileSync(TEST_MODEL, join(folder, "renamed.gguf"));
    rmSync(join(folder, "stories.gguf"));
    oneLineError(await runCli(["verify", folder, ...key], { env }), 4, /signs the single file "stories\.gguf", which is not in that folder/);
  });

  it("signs with a certificate chain (certificate method) that verifies to the root CA", async () => {
    const model = join(home, "cert-model");
    mkdirSync(model);
    writeFileSync(join(model, "w.bin"), "weights");
    const k = join(FIXTURES, "keys/certificate");
    const sign = await runCli(["sign", model, "--key", join(k, "signing-key.pem"), "--cert", join(k, "signing-key-cert.pem"), "--cert-chain", join(k, "int-ca-cert.pem")], { env });
    assert.equal(sign.code, 0, sign.stderr);
    assert.match(sign.stdout, /signed by\s+certificate CN=intermediate-ca/);
    const ok = await runCli(["verify", model, "--root-ca", ROOT_CA], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /signed by\s+certificate CN=intermediate-ca \(issued by CN=intermediate-ca; root CN=root-ca\)/);
    oneLineError(await runCli(["sign", model, "--key", join(home, "keys", "private.pem"), "--cert", join(k, "signing-key-cert.pem")], { env }), 2, /is not for this private key/);
  });
});

describe("trust policy in run and inspect (CLI)", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  let signedModel: string;
  let otherModel: string;
  let unsignedModel: string;
  before(async () => {
    ({ home, cleanup } = tempHome());
    const keys = join(home, "keys");
    const other = join(home, "other-keys");
    for (const dir of [keys, other]) assert.equal((await runCli(["keygen", "--out", dir], { env: { EDGELM_HOME: home } })).code, 0);
    const config = join(home, "config.yaml");
    writeFileSync(config, `trust:\n  require_signature: true\n  keys:\n    - ${join(keys, "public.pem")}\n`);
    env = { EDGELM_HOME: home, EDGELM_CONFIG: config };
    const place = (name: string) => {
      mkdirSync(join(home, name));
      copyFileSync(TEST_MODEL, join(home, name, "stories.gguf"));
      return join(home, name, "stories.gguf");
    };
    signedModel = place("signed");
    otherModel = place("other");
    unsignedModel = place("unsigned");
    assert.equal((await runCli(["sign", join(home, "signed"), "--key", join(keys, "private.pem")], { env })).code, 0);
    assert.equal((await runCli(["sign", join(home, "other"), "--key", join(other, "private.pem")], { env })).code, 0);
  });
  after(() => cleanup());

  it("runs a model signed by a trusted key, and the pinned demo model", async () => {
    const r = await runCli(["run", signedModel, "Once upon a time", "-t", "0", "-n", "8", "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).timings.completionTokens, 8);
    const demo = await runCli(["run", "Once upon a time", "-n", "5"], { env });
    assert.equal(demo.code, 0, demo.stderr);
    const info = await runCli(["inspect", signedModel, "--json"], { env });
    assert.equal(info.code, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).trust.status, "signed");
  });

  it("refuses an unsigned model in run and inspect", async () => {
    oneLineError(await runCli(["run", unsignedModel, "hi", "-n", "2"], { env }), 4, /refusing .*unsigned\/stories\.gguf: it is unsigned and trust\.require_signature is on/);
    oneLineError(await runCli(["inspect", unsignedModel], { env }), 4, /it is unsigned/);
    // Without require_signature the same model loads, and inspect says it is unsigned.
    const off = await runCli(["inspect", unsignedModel, "--json"], { env: { ...env, EDGELM_REQUIRE_SIGNATURE: "false" } });
    assert.equal(off.code, 0, off.stderr);
    assert.equal(JSON.parse(off.stdout).trust.status, "unsigned");
  });

  it("refuses a model signed by an untrusted key", async () => {
    oneLineError(await runCli(["run", otherModel, "hi", "-n", "2"], { env }), 4, /refusing .*other\/stories\.gguf: model\.sig was signed by key [0-9a-f]{64}, which is not a trusted key/);
  });

  it("refuses a model whose file changed after signing", async () => {
    appendFileSync(signedModel, Buffer.alloc(1));
    oneLineError(await runCli(["run", signedModel, "hi", "-n", "2"], { env }), 4, /refusing .*: .* does not match its signature: stories\.gguf changed \(signed sha256/);
  });
});
