import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { CLI, REPO_ROOT, runCli, tempHome, TEST_MODEL } from "../helpers.js";
import { sha256 } from "./fake-hub.js";

const MODEL = readFileSync(TEST_MODEL);
const MODEL_SHA = sha256(MODEL);

function flipByte(path: string, offset: number): void {
  chmodSync(path, 0o644);
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset]! ^ 0xff;
  writeFileSync(path, bytes);
}

function assertOneLine(stderr: string): void {
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

describe("edgelm add / list / rm / export, and store names in every command (CLI, end to end)", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  before(() => {
    ({ home, cleanup } = tempHome());
    env = { EDGELM_HOME: join(home, "edgelm") };
  });
  after(() => cleanup());

  it("adds a file and a signed folder, lists them, exports them ready to copy, and removes them", async () => {
    const added = await runCli(["add", TEST_MODEL, "--name", "assistant:1"], { env });
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^added assistant:1 \(1\.2 MB, F32, sha256 270cba1bd510…, unsigned \(no model\.sig\)\)$/m);

    // A folder signed with our own key, which the device's trust policy lists.
    const folder = join(home, "signed-model");
    mkdirSync(join(folder, "docs"), { recursive: true });
    copyFileSync(TEST_MODEL, join(folder, "stories.gguf"));
    writeFileSync(join(folder, "docs", "card.md"), "# stories\n");
    const keys = join(home, "keys");
    assert.equal((await runCli(["keygen", "--out", keys], { env })).code, 0);
    const signed = await runCli(["sign", folder, "--key", join(keys, "private.pem")], { env });
    assert.equal(signed.code, 0, signed.stderr);
    const hint = /signed by\s+key ([0-9a-f]{64})/.exec(signed.stdout)![1]!;
    writeFileSync(join(env.EDGELM_HOME!, "config.yaml"), `trust:\n  keys: [${join(keys, "public.pem")}]\n`);
    const folderAdd = await runCli(["add", folder, "--name", "stories:signed", "--json"], { env });
    assert.equal(folderAdd.code, 0, folderAdd.stderr);
    const entry = JSON.parse(folderAdd.stdout);
    assert.equal(entry.created, true);
    assert.equal(entry.signature, `signed by key ${hint} (ECDSA P-256)`);
    assert.deepEqual(entry.files.map((f: { name: string }) => f.name), ["docs/card.md", "model.sig", "stories.gguf"]);

    const table = await runCli(["list"], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.deepEqual(table.stdout.trimEnd().split("\n").map((l) => l.split(/\s{2,}/)), [
      ["NAME", "TAG", "SIZE", "QUANTIZATION", "SIGNATURE", "VARIANT OF"],
      ["assistant", "1", "1.2 MB", "F32", "unsigned", "-"],
      ["stories", "signed", "1.2 MB", "F32", `valid (key ${hint.slice(0, 12)})`, "-"],
    ]);
    const listed = JSON.parse((await runCli(["list", "--json"], { env })).stdout);
    assert.deepEqual(listed.map((e: { reference: string; signed: boolean }) => [e.reference, e.signed]), [["assistant:1", false], ["stories:signed", true]]);

    const out = join(home, "to-device");
    const exported = await runCli(["export", "stories:signed", out, "--json"], { env });
    assert.equal(exported.code, 0, exported.stderr);
    assert.deepEqual(JSON.parse(exported.stdout).files, [join(out, "docs", "card.md"), join(out, "model.sig"), join(out, "stories.gguf")]);
    for (const name of ["docs/card.md", "model.sig", "stories.gguf"]) assert.deepEqual(readFileSync(join(out, name)), readFileSync(join(folder, name)));
    // The export is itself a model folder: it can be added on the next device.
    const otherDevice = { EDGELM_HOME: join(home, "device-2") };
    const readd = await runCli(["add", out, "--name", "stories:signed", "--json"], { env: otherDevice });
    assert.equal(readd.code, 0, readd.stderr);
    assert.deepEqual(JSON.parse(readd.stdout).files, entry.files);

    const removed = await runCli(["rm", "assistant:1", "stories:signed"], { env });
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /^removed assistant:1 \(its files are shared with other models\)\nremoved stories:signed \(freed 1\.2 MB\)\n$/);
    assert.match((await runCli(["list"], { env })).stdout, /^no models in the store/);
    assert.deepEqual(readdirSync(join(home, "edgelm", "blobs", "sha256")), []);
  });

  it("list keeps the SIGNATURE column short; list --json and verify <name:tag> give the full reason", async () => {
    const keys = join(home, "list-keys");
    assert.equal((await runCli(["keygen", "--out", keys], { env })).code, 0);
    const other = join(home, "list-other-keys");
    assert.equal((await runCli(["keygen", "--out", other], { env })).code, 0);
    const folder = join(home, "list-signed");
    mkdirSync(folder, { recursive: true });
    copyFileSync(TEST_MODEL, join(folder, "stories.gguf"));
    assert.equal((await runCli(["sign", folder, "--key", join(keys, "private.pem")], { env })).code, 0);
    assert.equal((await runCli(["add", folder, "--name", "good:1"], { env })).code, 0);
    assert.equal((await runCli(["add", folder, "--name", "rejected:1"], { env })).code, 0);
    assert.equal((await runCli(["add", TEST_MODEL, "--name", "plain:1"], { env })).code, 0);
    // The device trusts another key: the same signature is now rejected (untrusted signer).
    const config = join(home, "list-config.yaml");
    writeFileSync(config, `trust:\n  keys: [${join(other, "public.pem")}]\n`);

    const table = await runCli(["list", "--config", config], { env });
    assert.equal(table.code, 0, table.stderr);
    const rows = table.stdout.trimEnd().split("\n").map((l) => l.split(/\s{2,}/));
    assert.deepEqual(rows.map((r) => r[4]), ["SIGNATURE", "rejected: untrusted_signer", "unsigned", "rejected: untrusted_signer"]);
    for (const line of table.stdout.trimEnd().split("\n")) assert.ok(line.length < 100, `a short row: ${line}`);

    const listed = JSON.parse((await runCli(["list", "--json", "--config", config], { env })).stdout);
    const rejected = listed.find((e: { reference: string }) => e.reference === "rejected:1");
    assert.equal(rejected.signature_status, "invalid");
    assert.equal(rejected.signature_error.code, "untrusted_signer");
    assert.match(rejected.signature, /^signature rejected: .*which is not a trusted key/);
    assert.match(rejected.signature_error.message, /which is not a trusted key/);
    assert.equal(listed.find((e: { reference: string }) => e.reference === "plain:1").signature_status, "unsigned");

    // verify takes a store name as well as a path: the same reasons, the full text.
    const byName = await runCli(["verify", "rejected:1", "--config", config], { env });
    assert.equal(byName.code, 4, byName.stderr);
    assert.match(byName.stderr, /which is not a trusted key/);
    assertOneLine(byName.stderr);
    const good = await runCli(["verify", "good:1", "--key", join(keys, "public.pem"), "--json"], { env });
    assert.equal(good.code, 0, good.stderr);
    const verified = JSON.parse(good.stdout);
    assert.equal(verified.model, "good:1");
    assert.deepEqual(verified.files.map((f: { name: string }) => f.name), ["stories.gguf"]);
    const byPath = await runCli(["verify", folder, "--key", join(keys, "public.pem"), "--json"], { env });
    assert.equal(JSON.parse(byPath.stdout).root_digest, verified.root_digest);
    const unsigned = await runCli(["verify", "plain:1", "--key", join(keys, "public.pem")], { env });
    assert.equal(unsigned.code, 4);
    assert.match(unsigned.stderr, /plain:1 has no signature: its store entry holds no model\.sig/);
    const typo = await runCli(["verify", "god:1", "--key", join(keys, "public.pem")], { env });
    assert.equal(typo.code, 3);
    assert.match(typo.stderr, /no model "god:1" in the store; did you mean "good:1"\?/);

    // verify <name> re-reads the blobs: one changed byte is caught before the signature is trusted.
    const entry = JSON.parse((await runCli(["list", "--json"], { env })).stdout).find((e: { reference: string }) => e.reference === "good:1");
    const blob = join(env.EDGELM_HOME!, "blobs", "sha256", entry.sha256);
    const original = readFileSync(blob);
    flipByte(blob, 100);
    try {
      const damaged = await runCli(["verify", "good:1", "--key", join(keys, "public.pem")], { env });
      assert.equal(damaged.code, 4, damaged.stderr);
      assert.match(damaged.stderr, /stories\.gguf .* does not match its manifest/);
    } finally {
      writeFileSync(blob, original);
    }
    assert.equal((await runCli(["rm", "good:1", "rejected:1", "plain:1"], { env })).code, 0);
  });

  it("every model-taking command resolves store names: run (argument and -m) and inspect", async () => {
    assert.equal((await runCli(["add", TEST_MODEL, "--name", "tiny"], { env })).code, 0);
    // The longest name and tag allowed work end to end.
    const longest = `${"n".repeat(128)}:${"t".repeat(128)}`;
    assert.equal((await runCli(["add", TEST_MODEL, "--name", longest], { env })).code, 0);
    const viaLongest = await runCli(["run", longest, "Once upon a time", "-n", "4", "-t", "0"], { env });
    assert.equal(viaLongest.code, 0, viaLongest.stderr);
    assert.ok(viaLongest.stdout.length > 0);
    const byArgument = await runCli(["run", "tiny", "Once upon a time", "-t", "0", "-n", "12", "--json"], { env });
    assert.equal(byArgument.code, 0, byArgument.stderr);
    const text = JSON.parse(byArgument.stdout).text;
    assert.equal(JSON.parse(byArgument.stdout).model, "tiny:latest");
    const byFlag = await runCli(["run", "-m", "tiny:latest", "Once upon a time", "-t", "0", "-n", "12", "--json"], { env });
    assert.equal(JSON.parse(byFlag.stdout).text, text);
    const direct = await runCli(["run", TEST_MODEL, "Once upon a time", "-t", "0", "-n", "12", "--json"], { env });
    assert.equal(JSON.parse(direct.stdout).text, text, "the store copy generates what the file does");
    const alone = await runCli(["run", "tiny", "-t", "0", "-n", "5", "--json"], { env, input: "Once upon a time" });
    assert.equal(alone.code, 0, alone.stderr);
    assert.equal(JSON.parse(alone.stdout).model, "tiny:latest", "one positional argument that names a stored model is the model");
    const inspect = await runCli(["inspect", "tiny", "--json"], { env });
    assert.equal(inspect.code, 0, inspect.stderr);
    const info = JSON.parse(inspect.stdout);
    assert.equal(info.source, "store");
    assert.equal(info.sha256, MODEL_SHA);
    assert.equal(info.hash_verified, true);
    const typo = await runCli(["run", "-m", "tinny:latest", "hi"], { env });
    assert.equal(typo.code, 3);
    assert.match(typo.stderr, /unknown model "tinny:latest"; did you mean "tiny:latest"\?/);
    assert.equal((await runCli(["rm", "tiny"], { env })).code, 0);
  });

  it("a blob with one byte flipped is refused at load (run and inspect) with both hashes, even with its mtime put back", async () => {
    assert.equal((await runCli(["add", TEST_MODEL, "--name", "victim"], { env })).code, 0);
    assert.equal((await runCli(["inspect", "victim", "--json"], { env })).code, 0, "verified once: now in the hash cache");
    const blob = join(home, "edgelm", "blobs", "sha256", MODEL_SHA);
    const before = statSync(blob);
    flipByte(blob, 4096);
    utimesSync(blob, before.atime, before.mtime);
    const actual = sha256(readFileSync(blob));
    for (const args of [["run", "victim", "Once upon a time", "-n", "5"], ["inspect", "victim"]]) {
      const r = await runCli(args, { env });
      assert.equal(r.code, 4, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`model victim:latest: stories260K\\.gguf \\(${blob}\\) does not match its manifest: expected sha256 ${MODEL_SHA}, got ${actual}`));
      assertOneLine(r.stderr);
      assert.equal(r.stdout, "", "nothing generated from a tampered model");
    }
    assert.equal((await runCli(["rm", "victim"], { env })).code, 0);
  });

  it("--reverify (and EDGELM_REVERIFY / store.reverify) re-hashes instead of trusting the verified-hash cache", async () => {
    assert.equal((await runCli(["add", TEST_MODEL, "--name", "cached"], { env })).code, 0);
    assert.equal((await runCli(["inspect", "cached", "--json"], { env })).code, 0);
    const blob = join(home, "edgelm", "blobs", "sha256", MODEL_SHA);
    flipByte(blob, 8192);
    // Forge the cache so that it vouches for the changed file: only a re-hash can tell.
    const cacheFile = join(home, "edgelm", "cache", "verified-sha256.json");
    const stat = statSync(blob, { bigint: true });
    writeFileSync(cacheFile, JSON.stringify({
      version: 1,
      entries: { [`${stat.dev}:${stat.ino}`]: { path: blob, size: String(stat.size), mtime_ns: String(stat.mtimeNs), ctime_ns: String(stat.ctimeNs), sha256: MODEL_SHA } },
    }));
    const trusting = await runCli(["inspect", "cached", "--json"], { env });
    assert.equal(trusting.code, 0, "the cache vouched for the file");
    for (const [args, extra] of [
      [["inspect", "cached", "--reverify"], {}],
      [["run", "cached", "hello", "--reverify", "-n", "3"], {}],
      [["inspect", "cached"], { EDGELM_REVERIFY: "1" }],
    ] as Array<[string[], Record<string, string>]>) {
      const r = await runCli(args, { env: { ...env, ...extra } });
      assert.equal(r.code, 4, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /does not match its manifest/);
    }
    assert.equal((await runCli(["rm", "cached"], { env })).code, 0);
  });

  it("bad input: one line and a non-zero exit", async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [["add", "/nope/model.gguf"], 3, /no such file or directory/],
      [["add", TEST_MODEL, "--name", "Bad Name!"], 2, /"Bad Name!" is not a valid model name/],
      // Each part of a name becomes a file name: 300 characters would be ENAMETOOLONG from the file system.
      [["add", TEST_MODEL, "--name", "a".repeat(300)], 2, /model name "a{40}…" is too long: "a{20}…" has 300 characters, and a name's parts and its tag may have at most 128 each/],
      [["add", TEST_MODEL, "--name", `ok/${"b".repeat(129)}:1`], 2, /has 129 characters/],
      [["add", TEST_MODEL, "--name", `ok:${"t".repeat(200)}`], 2, /has 200 characters/],
      [["rm", "ghost"], 3, /no model "ghost" in the store/],
      [["export", "ghost", join(home, "x")], 3, /no model "ghost" in the store/],
    ];
    for (const [args, code, pattern] of cases) {
      const r = await runCli(args, { env });
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assertOneLine(r.stderr);
    }
  });

  it("an add killed mid-write leaves no blob that looks valid; the next writer clears its temp file", async () => {
    // A valid GGUF header followed by 2 GiB of (sparse) padding: long enough to catch the copy in flight.
    const big = join(home, "big.gguf");
    copyFileSync(TEST_MODEL, big);
    truncateSync(big, MODEL.length + 2 ** 31);
    const storeHome = join(home, "killed");
    const tmp = join(storeHome, "tmp");
    const child = spawn(process.execPath, [CLI, "add", big, "--name", "big"], { cwd: REPO_ROOT, env: { ...process.env, EDGELM_HOME: storeHome }, stdio: "ignore" });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    let caught = false;
    for (let i = 0; i < 6000 && !caught; i++) {
      const parts = existsSync(tmp) ? readdirSync(tmp) : [];
      if (parts.length > 0 && statSync(join(tmp, parts[0]!)).size > 0) {
        child.kill("SIGKILL");
        caught = true;
      } else await sleep(2);
    }
    await exited;
    assert.ok(caught, "the copy was caught in flight");
    const leftovers = readdirSync(tmp);
    assert.equal(leftovers.length, 1);
    assert.ok(statSync(join(tmp, leftovers[0]!)).size < MODEL.length + 2 ** 31, "killed part way");
    const blobs = existsSync(join(storeHome, "blobs", "sha256")) ? readdirSync(join(storeHome, "blobs", "sha256")) : [];
    for (const name of blobs) assert.equal(sha256(readFileSync(join(storeHome, "blobs", "sha256", name))), name, "every blob is its hash");
    assert.deepEqual(blobs, [], "no blob at all");
    assert.deepEqual(JSON.parse((await runCli(["list", "--json"], { env: { EDGELM_HOME: storeHome } })).stdout), []);
    const next = await runCli(["add", TEST_MODEL, "--name", "small"], { env: { EDGELM_HOME: storeHome } });
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual(readdirSync(tmp), [], "the dead writer's temp file is gone");
  });
});
