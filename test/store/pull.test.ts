import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { runCli, tempHome, TEST_MODEL } from "../helpers.js";
import { COMMIT, FakeHub, sha256 } from "./fake-hub.js";

const MODEL = readFileSync(TEST_MODEL);
const MODEL_SHA = sha256(MODEL);
const OWNER = "edge-test";
const REPO = "Stories-GGUF";
const FILE = "stories260K-F32.gguf";
const HF_REF = `hf:${OWNER}/${REPO}/${FILE}`;

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function oneLine(stderr: string): void {
  const lines = stderr.trim().split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
}

describe("edgelm pull against a hub-like server on 127.0.0.1", () => {
  let hub: FakeHub;
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;

  before(async () => {
    hub = await FakeHub.start();
    hub.add({ owner: OWNER, repo: REPO, file: FILE, content: MODEL });
    // A catalog file (smollm2:360m-q8_0 and qwen2.5:0.5b-q8_0), served with the test model's bytes.
    hub.add({ owner: "HuggingFaceTB", repo: "SmolLM2-360M-Instruct-GGUF", file: "smollm2-360m-instruct-q8_0.gguf", content: MODEL });
    hub.add({ owner: "Qwen", repo: "Qwen2.5-0.5B-Instruct-GGUF", file: "qwen2.5-0.5b-instruct-q8_0.gguf", content: MODEL });
  });
  after(async () => hub.close());
  beforeEach(() => {
    ({ home, cleanup } = tempHome());
    env = { EDGELM_HOME: home, EDGELM_HF_ENDPOINT: hub.url };
    hub.requests.length = 0;
    for (const key of Object.keys(hub.faults)) delete hub.faults[key as keyof typeof hub.faults];
  });
  afterEach(() => cleanup());

  const config = (yaml: string): void => writeFileSync(join(home, "config.yaml"), yaml);
  const downloads = (): string[] => (existsSync(join(home, "downloads")) ? readdirSync(join(home, "downloads")).filter((n) => n.endsWith(".partial")) : []);

  it("downloads an hf: file once into the store, following the redirect to the CDN, with the advertised hash", async () => {
    const r = await runCli(["pull", HF_REF, "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.downloaded, true);
    assert.equal(out.sha256, MODEL_SHA);
    assert.equal(out.name, "edge-test/stories-gguf");
    assert.equal(out.tag, "stories260k-f32");
    assert.deepEqual(out.source, { type: "hf", ref: `${HF_REF}@main`, url: `${hub.url}/${OWNER}/${REPO}/resolve/main/${FILE}`, commit: COMMIT });
    assert.equal(out.quantization, "F32");
    const blob = join(home, "blobs", "sha256", MODEL_SHA);
    assert.deepEqual(readFileSync(blob), MODEL);
    assert.deepEqual(
      hub.requests.map((q) => `${q.server} ${q.method}`),
      ["hub HEAD", "cdn GET"],
      "HEAD on the hub without following the CDN redirect, then GET from the CDN",
    );
    assert.deepEqual(downloads(), [], "no partial file left");

    // Once is enough: the same reference resolves from the store without the network.
    const again = await runCli(["pull", HF_REF], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already in the store/);
    assert.equal(hub.requests.length, 2);
    const run = await runCli(["run", HF_REF, "Once upon a time", "-t", "0", "-n", "12", "--json"], { env: { ...env, EDGELM_HF_ENDPOINT: `http://127.0.0.1:${await closedPort()}` } });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).model, "edge-test/stories-gguf:stories260k-f32");
    const list = JSON.parse((await runCli(["list", "--json"], { env })).stdout);
    assert.deepEqual(list.map((e: { reference: string }) => e.reference), ["edge-test/stories-gguf:stories260k-f32"]);
  });

  it("pulls a catalog model under its catalog name, and every command pulls a catalog name that is not local yet", async () => {
    const r = await runCli(["pull", "smollm2:360m"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^pulled smollm2:360m-q8_0 \(1\.2 MB, F32, sha256 [0-9a-f]{12}… verified\)$/m);
    assert.ok(hub.requests.some((q) => q.path === "/HuggingFaceTB/SmolLM2-360M-Instruct-GGUF/resolve/main/smollm2-360m-instruct-q8_0.gguf"));
    const inspect = await runCli(["inspect", "smollm2:360m-q8_0", "--json"], { env: { ...env, EDGELM_HF_ENDPOINT: `http://127.0.0.1:${await closedPort()}` } });
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.equal(JSON.parse(inspect.stdout).model, "smollm2:360m-q8_0");
    assert.equal(JSON.parse(inspect.stdout).hash_verified, true);

    // Not pulled yet: inspect pulls it (like `ollama run`), then it is a store entry.
    const auto = await runCli(["inspect", "qwen2.5:0.5b", "--json"], { env });
    assert.equal(auto.code, 0, auto.stderr);
    assert.equal(JSON.parse(auto.stdout).model, "qwen2.5:0.5b-q8_0");
    const names = JSON.parse((await runCli(["list", "--json"], { env })).stdout).map((e: { reference: string }) => e.reference);
    assert.deepEqual(names, ["qwen2.5:0.5b-q8_0", "smollm2:360m-q8_0"]);
  });

  it("an hf: file already pulled under another name is linked, not downloaded again", async () => {
    assert.equal((await runCli(["pull", "hf:HuggingFaceTB/SmolLM2-360M-Instruct-GGUF/smollm2-360m-instruct-q8_0.gguf"], { env })).code, 0);
    const before = hub.requests.length;
    const r = await runCli(["pull", "smollm2:360m-q8_0", "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).downloaded, false);
    assert.equal(hub.requests.length, before, "no request for a file the store holds");
    assert.equal(readdirSync(join(home, "blobs", "sha256")).length, 1, "one blob for both names");
  });

  it("follows a same-host redirect of a renamed repository", async () => {
    hub.renamed.set("old-owner/Stories-GGUF", `${OWNER}/${REPO}`);
    const r = await runCli(["pull", `hf:old-owner/Stories-GGUF/${FILE}`, "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).sha256, MODEL_SHA);
    assert.deepEqual(hub.requests.map((q) => `${q.server} ${q.method}`), ["hub HEAD", "hub HEAD", "cdn GET"]);
  });

  it("sends the token to the hub only, never to the CDN", async () => {
    const r = await runCli(["pull", HF_REF], { env: { ...env, EDGELM_HF_TOKEN: "hf_secret" } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(hub.requests.find((q) => q.server === "hub")?.authorization, "Bearer hf_secret");
    assert.equal(hub.requests.find((q) => q.server === "cdn")?.authorization, undefined);
  });

  it("an interrupted transfer keeps its bytes; the next pull resumes with a Range request and completes", async () => {
    config("store:\n  download_retries: 0\n");
    hub.faults.dropAfterBytes = 300_000;
    hub.faults.dropTimes = 1;
    const first = await runCli(["pull", HF_REF], { env });
    assert.equal(first.code, 7, first.stderr);
    assert.match(first.stderr, /interrupted: the (transfer broke off|connection closed) after \d+ of 1185376 bytes.*run the same command again to resume/);
    oneLine(first.stderr);
    const partials = downloads();
    assert.equal(partials.length, 1);
    const kept = statSync(join(home, "downloads", partials[0]!)).size;
    assert.ok(kept > 0 && kept <= 300_000, `kept ${kept} bytes`);
    assert.ok(!existsSync(join(home, "blobs", "sha256", MODEL_SHA)), "no blob from a partial download");

    const second = await runCli(["pull", HF_REF, "--json"], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(JSON.parse(second.stdout).sha256, MODEL_SHA);
    const gets = hub.requests.filter((q) => q.server === "cdn");
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.range, undefined);
    assert.equal(gets[1]!.range, `bytes=${kept}-`, "resumed where the first attempt stopped");
    assert.deepEqual(readFileSync(join(home, "blobs", "sha256", MODEL_SHA)), MODEL);
    assert.deepEqual(downloads(), []);
  });

  it("retries a broken transfer within one pull (resuming each time), and restarts when the server ignores Range", async () => {
    hub.faults.dropAfterBytes = 200_000;
    hub.faults.dropTimes = 2;
    const r = await runCli(["pull", HF_REF, "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).sha256, MODEL_SHA);
    const ranges = hub.requests.filter((q) => q.server === "cdn").map((q) => q.range);
    assert.equal(ranges.length, 3);
    assert.equal(ranges[0], undefined);
    assert.match(ranges[1]!, /^bytes=\d+-$/);
    assert.match(ranges[2]!, /^bytes=\d+-$/);

    // A server that answers 200 to a range request: the partial is discarded and the whole file taken again.
    const other = tempHome();
    try {
      hub.faults.dropAfterBytes = 100_000;
      hub.faults.dropTimes = 1;
      hub.faults.ignoreRange = true;
      const full = await runCli(["pull", HF_REF, "--json"], { env: { ...env, EDGELM_HOME: other.home } });
      assert.equal(full.code, 0, full.stderr);
      assert.equal(JSON.parse(full.stdout).sha256, MODEL_SHA);
    } finally {
      other.cleanup();
    }
  });

  it("a stalled transfer times out, keeps its bytes, and resumes", async () => {
    config("store:\n  download_retries: 0\n  stall_timeout_ms: 400\n");
    hub.faults.stallAfterBytes = 400_000;
    hub.faults.stallTimes = 1;
    const first = await runCli(["pull", HF_REF], { env });
    assert.equal(first.code, 7, first.stderr);
    assert.match(first.stderr, /stalled/);
    oneLine(first.stderr);
    const second = await runCli(["pull", HF_REF, "--json"], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(JSON.parse(second.stdout).sha256, MODEL_SHA);
    assert.match(hub.requests.filter((q) => q.server === "cdn")[1]!.range ?? "", /^bytes=\d+-$/);
  });

  it("a second pull of a file being downloaded stops with a clear line instead of writing into the same partial file", async () => {
    config("store:\n  download_retries: 0\n  stall_timeout_ms: 4000\n");
    hub.faults.stallAfterBytes = 100_000;
    hub.faults.stallTimes = 1;
    const first = runCli(["pull", HF_REF], { env });
    const lock = join(home, "downloads", `${MODEL_SHA}.lock`);
    for (let i = 0; i < 500 && !existsSync(lock); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(existsSync(lock), "the first pull holds the download lock");
    const second = await runCli(["pull", HF_REF], { env });
    assert.equal(second.code, 6, second.stderr);
    assert.match(second.stderr, /hf:edge-test\/Stories-GGUF\/stories260K-F32\.gguf@main is being downloaded by another edgelm process \(pid \d+\); try again when it has finished/);
    oneLine(second.stderr);
    assert.equal((await first).code, 7, "the first one stalls out");
    assert.ok(!existsSync(lock), "and lets go of the lock");
  });

  it("a file that does not match the advertised SHA-256 is deleted and the pull fails with both hashes", async () => {
    const advertised = sha256(Buffer.from("something else"));
    hub.add({ owner: OWNER, repo: REPO, file: "tampered.gguf", content: MODEL, advertisedSha256: advertised });
    const r = await runCli(["pull", `hf:${OWNER}/${REPO}/tampered.gguf`], { env });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, new RegExp(`expected sha256 ${advertised}.*got ${MODEL_SHA}.*partial download was deleted`));
    oneLine(r.stderr);
    assert.deepEqual(downloads(), []);
    assert.ok(!existsSync(join(home, "blobs", "sha256", MODEL_SHA)));
    assert.deepEqual(JSON.parse((await runCli(["list", "--json"], { env })).stdout), []);
  });

  it("a file the server advertises no SHA-256 for is stored under the hash computed while downloading", async () => {
    hub.add({ owner: OWNER, repo: REPO, file: "small.gguf", content: MODEL, advertisedSha256: null, noRedirect: true });
    const r = await runCli(["pull", `hf:${OWNER}/${REPO}/small.gguf`, "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).sha256, MODEL_SHA);
    assert.match(r.stderr, /advertises no SHA-256/);
  });

  it("a missing file, repository or gated repository is one clear line", async () => {
    const missing = await runCli(["pull", `hf:${OWNER}/${REPO}/nope.gguf`], { env });
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /hf:edge-test\/Stories-GGUF\/nope\.gguf@main was not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404: the repository has no file nope\.gguf at revision main\)/);
    oneLine(missing.stderr);
    const repo = await runCli(["run", `hf:nobody/Nothing-GGUF/x.gguf`, "hello"], { env });
    assert.equal(repo.code, 3);
    assert.match(repo.stderr, /the repository nobody\/Nothing-GGUF does not exist/);
    oneLine(repo.stderr);
    hub.add({ owner: OWNER, repo: "Gated-GGUF", file: "g.gguf", content: MODEL, denied: { status: 403, code: "GatedRepo" } });
    const gated = await runCli(["pull", `hf:${OWNER}/Gated-GGUF/g.gguf`], { env });
    assert.equal(gated.code, 7);
    assert.match(gated.stderr, /HTTP 403.*gated.*EDGELM_HF_TOKEN/);
    oneLine(gated.stderr);
  });

  it("offline (nothing listening): fails at once with one line naming what could not be reached and how to use a local file", async () => {
    const port = await closedPort();
    const offline = { ...env, EDGELM_HF_ENDPOINT: `http://127.0.0.1:${port}` };
    for (const args of [["pull", HF_REF], ["pull", "smollm2:135m"], ["run", "tinyllama:1.1b", "hello"]]) {
      const started = Date.now();
      const r = await runCli(args, { env: offline });
      assert.equal(r.code, 7, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port} \\(connection refused: ECONNREFUSED\\) to download hf:.*; offline, pass a local file instead \\(edgelm run \\./model\\.gguf\\)`));
      oneLine(r.stderr);
      assert.ok(Date.now() - started < 20_000, "fails at once, not after retries");
    }
  });

  it("pull --list shows the catalog with download sizes, and pull refuses paths and unknown names clearly", async () => {
    const table = await runCli(["pull", "--list"], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^smollm2:360m-q8_0\s+360M\s+Q8_0\s+≈386 MB\s+smollm2:360m, smollm2\s+-\s+hf:HuggingFaceTB\/SmolLM2-360M-Instruct-GGUF\/smollm2-360m-instruct-q8_0\.gguf$/m);
    assert.match(table.stdout, /^llama3\.2:1b-q4_k_m\s+1B\s+Q4_K_M\s+808 MB\s+llama3\.2:1b, llama3\.2/m);
    const json = JSON.parse((await runCli(["pull", "--list", "--json"], { env })).stdout);
    const names = json.map((e: { name: string }) => e.name);
    for (const family of ["smollm2:135m", "smollm2:360m", "smollm2:1.7b", "qwen2.5:0.5b", "qwen2.5:1.5b", "llama3.2:1b", "llama3.2:3b", "phi3.5:mini", "gemma2:2b", "tinyllama:1.1b"]) {
      assert.ok(names.some((n: string) => n.startsWith(`${family}-`)), `${family} is in the catalog`);
    }
    assert.ok(json.every((e: { size_bytes: number; ref: string }) => e.size_bytes > 50_000_000 && e.ref.startsWith("hf:")));

    const path = await runCli(["pull", "./model.gguf"], { env });
    assert.equal(path.code, 2);
    assert.match(path.stderr, /use `edgelm add \.\/model\.gguf`/);
    const typo = await runCli(["pull", "smolm2:360m"], { env });
    assert.equal(typo.code, 3);
    assert.match(typo.stderr, /unknown model "smolm2:360m"; did you mean "smollm2:360m"/);
  });
});
