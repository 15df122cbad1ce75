import assert from "node:assert/strict";
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli, tempHome, TEST_MODEL } from "../helpers.js";
import { HOSTILE_TEMPLATE, writeTemplatedStories } from "../engine/templated-model.js";

describe("edgelm run / inspect (CLI, end to end)", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  before(() => {
    ({ home, cleanup } = tempHome());
    env = { EDGELM_HOME: home };
  });
  after(() => cleanup());

  it("prints a story from the built-in demo model with one prompt argument, and says so on stderr", async () => {
    const r = await runCli(["run", "Once upon a time", "--seed", "3", "-n", "30"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /using the built-in demo model/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.ok(r.stdout.trim().split(/\s+/).length >= 10, r.stdout);
  });

  it("runs a model given as the first argument, and as -m, with --json timings", async () => {
    const r = await runCli(["run", TEST_MODEL, "Once upon a time", "-t", "0", "-n", "20", "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.model, "stories260K");
    assert.equal(out.finish_reason, "length");
    assert.equal(out.timings.completionTokens, 20);
    assert.match(out.text, /there was/);
    const m = await runCli(["run", "-m", TEST_MODEL, "Once upon a time", "-t", "0", "-n", "20", "--json"], { env });
    assert.equal(JSON.parse(m.stdout).text, out.text);
    assert.doesNotMatch(r.stderr, /demo model/);
  });

  it("measures threads once per model, and again with --retune", async () => {
    const { home: tuneHome, cleanup: done } = tempHome();
    try {
      const tuneEnv = { EDGELM_HOME: tuneHome, EDGELM_ENGINE: "node-llama-cpp" };
      const cacheFile = join(tuneHome, "cache", "thread-tuning.json");
      const args = ["run", "-m", TEST_MODEL, "Once upon a time", "-n", "4", "--json"];
      const measuredAt = (): string[] => Object.values((JSON.parse(readFileSync(cacheFile, "utf8")) as { entries: Record<string, { measuredAt: string }> }).entries).map((t) => t.measuredAt);
      const measured = await runCli(args, { env: tuneEnv });
      assert.equal(measured.code, 0, measured.stderr);
      const first = measuredAt();
      assert.ok(first.length >= 1);
      const cached = await runCli(args, { env: tuneEnv });
      assert.equal(cached.code, 0, cached.stderr);
      assert.deepEqual(measuredAt(), first);
      const again = await runCli([...args, "--retune"], { env: tuneEnv });
      assert.equal(again.code, 0, again.stderr);
      assert.notDeepEqual(measuredAt(), first);
    } finally {
      done();
    }
  });

  it("reads the prompt from a pipe", async () => {
    const r = await runCli(["run", TEST_MODEL, "-t", "0", "-n", "10", "--json"], { env, input: "Once upon a time\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).timings.completionTokens, 10);
  });

  it("inspect reports shape, sizes at other precisions and memory fit as JSON", async () => {
    const r = await runCli(["inspect", TEST_MODEL, "--ctx", "1024", "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.architecture, "llama");
    assert.equal(info.parameters, 292800);
    assert.equal(info.vocab_size, 512);
    assert.deepEqual(info.tensor_types, { F32: 48 });
    assert.equal(info.memory.context_size, 1024);
    // KV cache: 5 layers × 1024 cells × 4 kv heads × (8 + 8) dims (64 wide / 8 heads) × 2 bytes.
    assert.equal(info.memory.kv_cache_bytes, 5 * 1024 * 4 * 16 * 2);
    assert.ok(info.size_at.F16 < info.file_size && info.size_at.Q4_0 < info.size_at.Q8_0);
    assert.equal(info.fits, true);
    assert.doesNotMatch(r.stderr, /demo model/);
    // Without a model: the demo model, said on stderr while stdout stays one JSON document.
    const demo = await runCli(["inspect", "--json"], { env });
    assert.equal(demo.code, 0, demo.stderr);
    assert.match(demo.stderr, /using the built-in demo model/);
    assert.equal(JSON.parse(demo.stdout).architecture, "llama");
  });

  describe("bad input: one clear line, non-zero exit, no stack trace", () => {
    const cases: Array<[string, string[], RegExp]> = [
      ["a nonexistent path", ["run", "-m", "/nope/model.gguf", "hi"], /model file \/nope\/model.gguf does not exist/],
      ["a directory", ["run", "-m", "/tmp", "hi"], /is a directory/],
      ["an unknown catalog name", ["run", "smolm2:360m"], /unknown model "smolm2:360m"/],
      ["--max-tokens -5", ["run", "hi", "--max-tokens", "-5"], /--max-tokens must be at least 1 \(or -1 for no limit\)/],
      ["--max-tokens abc", ["run", "hi", "--max-tokens", "abc"], /--max-tokens must be an integer \(got "abc"\)/],
      ["a prompt longer than the context", ["run", "-m", TEST_MODEL, "--ctx", "32", "Once upon a time there was a girl named Lily who liked to play with her friends in the park every day"], /the prompt is \d+ tokens but the context holds 32/],
    ];
    for (const [what, args, pattern] of cases) {
      it(what, async () => {
        const r = await runCli(args, { env });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, pattern);
        assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
        assert.equal(r.stderr.trim().split("\n").filter((l) => !/demo model|run with --help/.test(l)).length, 1, r.stderr);
      });
    }

    it("an architecture llama.cpp does not know", async () => {
      const bytes = Buffer.from(readFileSync(TEST_MODEL));
      const key = Buffer.from("general.architecture");
      const at = bytes.indexOf(key) + key.length + 4 + 8; // past the value type (u32) and string length (u64)
      assert.equal(bytes.subarray(at, at + 5).toString(), "llama");
      bytes.write("llamb", at);
      const path = join(home, "unknown-arch.gguf");
      writeFileSync(path, bytes);
      const r = await runCli(["run", "-m", path, "hi"], { env });
      assert.equal(r.code, 3);
      assert.equal(r.stderr.trim(), `edgelm: ${path}: architecture "llamb" is not supported by this llama.cpp build`);
    });

    it("a chat template that loops: --chat refuses the model at load, naming the limit", async () => {
      const path = await writeTemplatedStories(home, HOSTILE_TEMPLATE, {}, "hostile.gguf");
      const r = await runCli(["run", path, "hi", "--chat", "-n", "4"], { env: { ...env, EDGELM_ENGINE: "node-llama-cpp" }, timeoutMs: 60_000 });
      assert.equal(r.code, 3, r.stderr);
      assert.match(
        r.stderr.trim(),
        /^edgelm: hostile(\.gguf)?: its chat template (did not finish rendering within 2000 ms \(engine\.chat_template\.render_timeout_ms\)|needed more than 128 MiB of memory to render \(engine\.chat_template\.memory_mb\)) on a probe render of a short chat; the model is not loaded$/,
      );
    });

    it("a file that is not GGUF, and a truncated GGUF", async () => {
      const dir = join(home, "bad");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "text.gguf"), "this is not a model\n".repeat(10));
      writeFileSync(join(dir, "cut.gguf"), readFileSync(TEST_MODEL).subarray(0, 600_000));
      const a = await runCli(["run", "-m", join(dir, "text.gguf"), "hi"], { env });
      assert.equal(a.code, 3);
      assert.match(a.stderr, /not a GGUF file/);
      const b = await runCli(["inspect", join(dir, "cut.gguf")], { env });
      assert.equal(b.code, 3);
      assert.match(b.stderr, /truncated: tensor/);
    });
  });

  it("--help and --version behave as a CLI user expects", async () => {
    const v = await runCli(["--version"]);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    const h = await runCli(["--help"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /run \[options\]/);
    const none = await runCli([]);
    assert.match(none.stdout + none.stderr, /Usage: edgelm/);
  });

  it("admin --timeout says each subcommand's own default", async () => {
    const expected: Array<[string, string]> = [
      ["models", "give up after this many seconds (the gateway answers at once) (default: 30)"],
      ["swap", "(it loads a model) (default: 600)"],
      ["add-runner", "(it loads a model) (default: 600)"],
      ["remove-runner", "(it waits for the runner's requests to finish) (default: 600)"],
    ];
    for (const [sub, help] of expected) {
      const r = await runCli(["admin", sub, "--help"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.replace(/\s+/g, " ").includes(help), `${sub}: ${r.stdout}`);
    }
  });
});
