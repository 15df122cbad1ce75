/** Choosing the engine from the command line, the environment and EDGELM_HOME, end to end. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { CLI, REPO_ROOT, runCli, tempHome, testLlamaServer, TEST_MODEL } from "../helpers.js";
import { writeCrashingLlamaServer } from "../support/crashing-llama-server.js";

describe("edgelm --engine (CLI, end to end)", () => {
  let home: string;
  let cleanup: () => void;
  let binary: string;
  before(async () => {
    ({ home, cleanup } = tempHome());
    binary = await testLlamaServer();
  });
  after(() => cleanup());

  const env = (extra: Record<string, string> = {}) => ({ EDGELM_HOME: home, EDGELM_TUNE_THREADS: "0", ...extra });
  const runArgs = ["run", "-m", TEST_MODEL, "Once upon a time", "-n", "16", "--temperature", "0", "--threads", "1", "--json"];

  it("runs a model on llama-server or node-llama-cpp with the same greedy text", async () => {
    const native = await runCli([...runArgs, "--engine", "llama-server", "--llama-server", binary], { env: env() });
    assert.equal(native.code, 0, native.stderr);
    const node = await runCli([...runArgs, "--engine", "node-llama-cpp"], { env: env() });
    assert.equal(node.code, 0, node.stderr);
    const a = JSON.parse(native.stdout) as { text: string; timings: { completionTokens: number } };
    const b = JSON.parse(node.stdout) as { text: string };
    assert.equal(a.timings.completionTokens, 16);
    assert.equal(a.text, b.text);
    // The same choice through the environment.
    const viaEnv = await runCli(runArgs, { env: env({ EDGELM_ENGINE: "llama-server", EDGELM_LLAMA_SERVER: binary }) });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal((JSON.parse(viaEnv.stdout) as { text: string }).text, a.text);
  });

  it("says clearly when llama-server is asked for but missing or broken, or the engine name is wrong", async () => {
    const missing = await runCli([...runArgs, "--engine", "llama-server"], { env: env() });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /^edgelm: engine\.backend is llama-server but no llama-server is built or configured: build one with `edgelm engine build`/);
    const broken = await runCli([...runArgs, "--llama-server", join(home, "nope")], { env: env() });
    assert.equal(broken.code, 2, broken.stderr);
    assert.match(broken.stderr, /engine\.llama_server \(--llama-server, EDGELM_LLAMA_SERVER\): .*nope does not exist/);
    const bad = await runCli([...runArgs, "--engine", "vllm"], { env: env() });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--engine must be auto, node-llama-cpp or llama-server \(got "vllm"\)/);
    const evalNative = await runCli(["eval", TEST_MODEL, "--text", TEST_MODEL, "--engine", "llama-server"], { env: env() });
    assert.equal(evalNative.code, 2);
    assert.match(evalNative.stderr, /eval needs full next-token distributions, which the llama-server engine does not expose/);
  });

  it("auto uses a llama-server built into EDGELM_HOME, and bench reports it", async () => {
    // What `edgelm engine build` leaves behind: the binary and its engine.json.
    const dir = join(home, "engines", "llama.cpp-0123456789ab");
    mkdirSync(join(dir, "bin"), { recursive: true });
    copyFileSync(binary, join(dir, "bin", "llama-server"));
    const record = { backend: "llama-server", binary: join(dir, "bin", "llama-server"), commit: "0123456789ab", version: "test", openmp: true, cmakeOptions: {}, builtAt: new Date().toISOString(), seconds: 1 };
    writeFileSync(join(dir, "engine.json"), JSON.stringify(record));
    const bench = await runCli(["bench", TEST_MODEL, "-p", "16", "-n", "8", "-r", "1", "--threads", "1", "--json"], { env: env(), timeoutMs: 120_000 });
    assert.equal(bench.code, 0, bench.stderr);
    const report = JSON.parse(bench.stdout) as { engine: { backend: string; build: string }; isa: string };
    assert.equal(report.engine.backend, "llama-server");
    assert.match(report.engine.build, /^llama-server .*llama\.cpp-0123456789ab/);
    // A record without the probe's choice: a build from before instruction sets were probed, smoke-tested on first use.
    assert.equal(report.isa, "-march=native, built before instruction sets were probed");
    const listed = await runCli(["engine", "list"], { env: env() });
    assert.match(listed.stdout, /-march=native, built before instruction sets were probed.*; smoke test passed on this CPU/);
    const pinned = await runCli(["bench", TEST_MODEL, "-p", "16", "-n", "8", "-r", "1", "--threads", "1", "--json", "--engine", "node-llama-cpp"], { env: env(), timeoutMs: 120_000 });
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.equal((JSON.parse(pinned.stdout) as { engine: { backend: string } }).engine.backend, "node-llama-cpp");
  });

  it("auto falls back to node-llama-cpp, naming the cause, when the built llama-server crashes on this CPU", async () => {
    const { home: crashHome, cleanup: crashCleanup } = tempHome();
    try {
      const dir = join(crashHome, "engines", "llama.cpp-fedcba987654");
      const crashing = writeCrashingLlamaServer(join(dir, "bin", "llama-server"));
      const record = { backend: "llama-server", binary: crashing, commit: "fedcba987654", version: "test", openmp: true, cmakeOptions: {}, builtAt: new Date().toISOString(), seconds: 1 };
      writeFileSync(join(dir, "engine.json"), JSON.stringify(record));
      const crashEnv = { EDGELM_HOME: crashHome, EDGELM_TUNE_THREADS: "0" };
      const auto = await runCli(runArgs, { env: crashEnv });
      assert.equal(auto.code, 0, auto.stderr);
      assert.match(auto.stderr, /fails its smoke test on this CPU: the F16 smoke-test model crashed it \(SIGILL\): an instruction set .*; using node-llama-cpp/);
      assert.equal((JSON.parse(auto.stdout) as { timings: { completionTokens: number } }).timings.completionTokens, 16);
      // Known now (cached per binary and CPU): engine list says so and auto does not pick it.
      const listed = await runCli(["engine", "list", "--json"], { env: crashEnv });
      const list = JSON.parse(listed.stdout) as { backend_in_use: string; engines: Array<{ backend: string; kind: string; available: boolean; description: string }> };
      assert.equal(list.backend_in_use, "node-llama-cpp");
      const built = list.engines.find((e) => e.kind === "built")!;
      assert.equal(built.available, false);
      assert.match(built.description, /fails on this CPU: the F16 smoke-test model crashed it \(SIGILL\)/);
      const pinned = await runCli([...runArgs, "--engine", "llama-server"], { env: crashEnv });
      assert.equal(pinned.code, 3, pinned.stderr);
      assert.match(pinned.stderr, /fails its smoke test on this CPU: .*SIGILL.*`edgelm engine build --rebuild` builds one for this CPU/);
    } finally {
      crashCleanup();
    }
  });

  it("edgelm serve names the engine at start and serves on it", async () => {
    const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "-m", `stories=${TEST_MODEL}`, "--engine", "llama-server", "--llama-server", binary, "--threads", "1"], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env(), EDGELM_LOG_LEVEL: "info" },
    });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${stdout} ${stderr}`)), 60_000);
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString();
          if (/^ {2}stories {2}(ready|failed)/m.test(stdout)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      assert.match(stdout, new RegExp(`^engine: llama-server .* ${binary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(engine\\.llama_server`, "m"));
      assert.match(stdout, /^ {2}stories {2}ready {2}llama-server, 1 runner × 4 slots/m);
      const url = /listening on (http:\/\/\S+)/.exec(stdout)![1]!;
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
      const r = await client.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 5, temperature: 0 });
      assert.equal(r.usage!.completion_tokens, 5);
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /edgelm gateway stopped/);
  });

  it("a gateway killed outright leaves no llama-server behind", async () => {
    const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "-m", `stories=${TEST_MODEL}`, "--engine", "llama-server", "--llama-server", binary, "--threads", "1"], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env(), EDGELM_LOG_LEVEL: "warn" },
    });
    let stdout = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${stdout}`)), 60_000);
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (/^ {2}stories {2}ready/m.test(stdout)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const url = /listening on (http:\/\/\S+)/.exec(stdout)![1]!;
    const ps = (await (await fetch(`${url}/api/ps`)).json()) as { models: Array<{ edgelm: { runners: Array<{ pid: number }> } }> };
    const runnerPid = ps.models[0]!.edgelm.runners[0]!.pid;
    assert.ok(alive(runnerPid));
    child.kill("SIGKILL");
    const deadline = Date.now() + 5000;
    while (alive(runnerPid)) {
      assert.ok(Date.now() < deadline, `llama-server ${runnerPid} outlived its gateway`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});

/** A process that runs (a zombie waiting to be reaped by whoever adopted it counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
