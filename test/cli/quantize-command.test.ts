import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { REPO_ROOT, runCli, tempHome, TEST_MODEL } from "../helpers.js";

const ENOSPC_PRELOAD = pathToFileURL(join(REPO_ROOT, "dist/test/support/simulate-enospc.js")).href;

describe("edgelm quantize (CLI)", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  before(() => {
    ({ home, cleanup } = tempHome());
    env = { EDGELM_HOME: home };
  });
  after(() => cleanup());
  const oneLine = (stderr: string): void => {
    assert.equal(stderr.trim().split("\n").filter((l) => !/run with --help/.test(l)).length, 1, stderr);
    assert.doesNotMatch(stderr, /\n\s+at /);
  };

  it("writes the model and summarises it, as a table and as JSON", async () => {
    const out = join(home, "q4.gguf");
    const table = await runCli(["quantize", TEST_MODEL, out, "--type", "q4_0"], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /wrote .*q4\.gguf \(Q4_0\)/);
    assert.match(table.stdout, /fallback\s+5 tensors: rows of 172 do not divide into Q4_0 blocks of 32 → F16/);
    assert.equal(table.stderr, "", "no progress bar when stderr is not a terminal");
    const json = await runCli(["quantize", TEST_MODEL, out, "-t", "Q8_0", "--workers", "1", "--json"], { env });
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(report.type, "Q8_0");
    assert.equal(report.file_type, 7);
    assert.equal(report.workers, 1);
    assert.equal(report.output_bytes, readGguf(out).fileSize);
    assert.deepEqual(report.tensor_types, { Q8_0: 32, F32: 11, F16: 5 });
  });

  it("warns on stderr when requantizing, and refuses to quantize upward", async () => {
    const q8 = join(home, "q8.gguf");
    assert.equal((await runCli(["quantize", TEST_MODEL, q8, "-t", "q8_0"], { env })).code, 0);
    const down = await runCli(["quantize", q8, join(home, "q8-q4.gguf"), "-t", "q4_0"], { env });
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stderr, /^warn: requantizing \d+ tensors that are already Q8_0/);
    const up = await runCli(["quantize", join(home, "q8-q4.gguf"), join(home, "up.gguf"), "-t", "q8_0"], { env });
    assert.equal(up.code, 2);
    assert.match(up.stderr, /already quantized to Q4_0/);
    oneLine(up.stderr);
  });

  it("adds a name:tag output to the store as a variant of its source, signed with trust.local_key when set", async () => {
    const store = { EDGELM_HOME: join(home, "store-home") };
    assert.equal((await runCli(["add", TEST_MODEL, "--name", "stories:f32"], { env: store })).code, 0);
    const unsigned = await runCli(["quantize", "stories:f32", "stories:q4_0", "-t", "q4_0"], { env: store });
    assert.equal(unsigned.code, 0, unsigned.stderr);
    assert.match(unsigned.stdout, /^added stories:q4_0 \(Q4_0\) to the store, a variant of stories:f32, unsigned/);
    // A key pair and a config naming it: the next variant is signed and its signature verifies.
    assert.equal((await runCli(["keygen", "-o", join(store.EDGELM_HOME, "keys")], { env: store })).code, 0);
    writeFileSync(join(store.EDGELM_HOME, "config.yaml"), `trust:\n  local_key: ${join(store.EDGELM_HOME, "keys", "private.pem")}\n`);
    const signed = await runCli(["quantize", "stories:f32", "stories:q8_0", "-t", "q8_0", "--json"], { env: store });
    assert.equal(signed.code, 0, signed.stderr);
    const added = JSON.parse(signed.stdout).store as Record<string, unknown>;
    assert.deepEqual([added.reference, added.variant_of, added.signed], ["stories:q8_0", "stories:f32", true]);
    const list = JSON.parse((await runCli(["list", "--json"], { env: store })).stdout) as Array<Record<string, unknown>>;
    const byRef = new Map(list.map((e) => [e.reference, e]));
    assert.equal(byRef.get("stories:q4_0")!.variant_of, "stories:f32");
    assert.equal(byRef.get("stories:q4_0")!.quantization, "Q4_0");
    assert.equal(byRef.get("stories:q4_0")!.signed, false);
    assert.equal(byRef.get("stories:q8_0")!.signed, true);
    assert.match(String(byRef.get("stories:q8_0")!.signature), /^signed by key/);
    const run = await runCli(["run", "stories:q8_0", "Once upon a time", "-n", "12", "-t", "0", "--json"], { env: store });
    assert.equal(run.code, 0, run.stderr);
    assert.match(JSON.parse(run.stdout).text, /Lily|girl|there was/);
    // Refused before any work: an existing name, a source outside the store, the source itself.
    const again = await runCli(["quantize", "stories:f32", "stories:q4_0", "-t", "q4_0"], { env: store });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /stories:q4_0 is already in the store; choose another tag or pass --force/);
    assert.equal((await runCli(["quantize", "stories:f32", "stories:q4_0", "-t", "q4_1", "--force"], { env: store })).code, 0);
    const outside = await runCli(["quantize", TEST_MODEL, "stories:q5_0", "-t", "q5_0"], { env: store });
    assert.equal(outside.code, 2);
    assert.match(outside.stderr, /stories260K is not in the store, so stories:q5_0 cannot be recorded as its variant/);
    const itself = await runCli(["quantize", "stories:f32", "stories:f32", "-t", "q8_0"], { env: store });
    assert.equal(itself.code, 2);
    assert.match(itself.stderr, /stories:f32 is the model being quantized/);
    assert.deepEqual(readdirSync(join(store.EDGELM_HOME, "tmp")), [], "no temp files left in the store");
  });

  const failures: Array<[string, string[], number, RegExp]> = [
    ["an unknown --type", ["-t", "q3_k"], 2, /unknown quantization type "q3_k" \(valid: f16, q8_0, q6_k, q5_1, q5_0, q4_k, q4_1, q4_0\)/],
    ["an unknown --output-type", ["-t", "q4_0", "--output-type", "q9"], 2, /--output-type must be one of f32, f16, q8_0/],
    ["a negative --workers", ["-t", "q4_0", "--workers", "-1"], 2, /--workers must be between 0 and 64/],
  ];
  for (const [what, flags, code, pattern] of failures) {
    it(`rejects ${what} with one line`, async () => {
      const r = await runCli(["quantize", TEST_MODEL, join(home, "x.gguf"), ...flags], { env });
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, pattern);
      oneLine(r.stderr);
    });
  }

  it("reports a missing input, a missing output directory and a full disk, leaving no file behind", async () => {
    const missing = await runCli(["quantize", join(home, "nope.gguf"), join(home, "x.gguf"), "-t", "q8_0"], { env });
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /nope\.gguf does not exist/);
    const noDir = await runCli(["quantize", TEST_MODEL, join(home, "no", "dir", "x.gguf"), "-t", "q8_0"], { env });
    assert.equal(noDir.code, 3);
    assert.match(noDir.stderr, /^edgelm: cannot write .*x\.gguf: the directory .*no\/dir does not exist/);
    const full = await runCli(["quantize", TEST_MODEL, join(home, "full.gguf"), "-t", "q8_0"], {
      env: { ...env, NODE_OPTIONS: `--import=${ENOSPC_PRELOAD}`, EDGELM_TEST_ENOSPC_AFTER: "100000" },
    });
    assert.equal(full.code, 8, full.stderr);
    assert.match(full.stderr, /^edgelm: cannot write .*full\.gguf: no space left on device/);
    oneLine(full.stderr);
    assert.equal(existsSync(join(home, "full.gguf")), false);
    assert.deepEqual(readdirSync(home).filter((f) => f.endsWith(".tmp")), []);
  });
});
