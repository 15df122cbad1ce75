import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { RunnerSandbox, type SandboxRequest } from "../../../src/engine/sandbox/runner-sandbox.js";
import { nodeProgramPaths } from "../../../src/engine/sandbox/spawn-sandboxed.js";
import { probeLandlock, sandboxCapabilities } from "../../../src/engine/sandbox/sandbox-capabilities.js";
import { ChildProcessRunner } from "../../../src/engine/runners/child-process-runner.js";
import { LlamaServerRunner } from "../../../src/engine/llama-server/llama-server-runner.js";
import { compileSeccomp, readSeccompProfile, SECCOMP_PROFILE_PATH } from "../../../src/engine/sandbox/seccomp-program.js";
import { isEdgeError } from "../../../src/errors.js";
import { testLlamaServer, TEST_MODEL } from "../../helpers.js";
import { testSandbox, testSandboxPolicy } from "./test-sandbox.js";

const PROBE = fileURLToPath(new URL("../../support/sandbox-escape-probe.js", import.meta.url));
const SECCOMP_EXEC_SOURCE = fileURLToPath(new URL("../../../../deploy/seccomp/edgelm-seccomp-exec.c", import.meta.url));

interface Attempt {
  attempt: string;
  ok: boolean;
  detail: string;
}

/** Runs `request` through `sandbox` (or unconfined) and returns its stdout and exit code. */
function run(sandbox: RunnerSandbox | undefined, request: Omit<SandboxRequest, "firstFd">): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const plan = sandbox?.plan({ ...request, firstFd: 3 }) ?? { command: request.command, args: request.args, env: request.env, extraStdio: [], release: () => {} };
  const child = spawn(plan.command, plan.args, { env: plan.env, stdio: ["ignore", "pipe", "pipe", ...plan.extraStdio] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d));
  child.stderr!.on("data", (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.once("exit", (code) => (plan.release(), resolve({ code, stdout, stderr }))));
}

describe("runner sandbox", () => {
  let home: string;
  let keyFile: string;
  let outside: string;
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  let port: number;

  before(async () => {
    home = mkdtempSync(join(tmpdir(), "edgelm-sandbox-home-"));
    mkdirSync(join(home, "keys"));
    keyFile = join(home, "keys", "device.pem");
    writeFileSync(keyFile, "-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n", { mode: 0o600 });
    writeFileSync(join(home, "config.yaml"), "server:\n  api_keys: [secret]\n");
    // A folder anyone may write in: only the sandbox can keep a runner out of it.
    outside = mkdtempSync(join(tmpdir(), "edgelm-sandbox-outside-"));
    chmodSync(outside, 0o777);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.close();
    rmSync(home, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  const probe = (ownDir?: string): Omit<SandboxRequest, "firstFd"> => ({
    command: process.execPath,
    args: [PROBE, JSON.stringify({ tcpPort: port, keyFile, outsideFile: join(outside, "escaped"), ...(ownDir ? { ownDir } : {}) })],
    programPaths: nodeProgramPaths(PROBE),
    modelPaths: [TEST_MODEL],
    writableDirs: ownDir ? [ownDir] : [],
    env: process.env,
  });
  const attempts = (stdout: string): Map<string, Attempt> =>
    new Map(stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Attempt).map((a) => [a.attempt, a]));

  it("the probe escapes when unconfined (so its refusals below mean something)", async () => {
    const result = await run(undefined, probe());
    const seen = attempts(result.stdout);
    for (const name of ["tcp-connect", "write-outside", "read-key", "exec-shell", "syscall-outside-profile"]) {
      assert.equal(seen.get(name)?.ok, true, `${name}: ${seen.get(name)?.detail}`);
    }
    assert.equal(connections, 1);
    rmSync(join(outside, "escaped"));
  });

  for (const shape of ["node-llama-cpp runner", "llama-server runner (own socket folder)"]) {
    it(`stops a ${shape} from opening TCP, writing outside, reading a key, running a shell, or calling outside the profile`, async () => {
      const sandbox = testSandbox({ hiddenPaths: [home] });
      const ownDir = shape.startsWith("llama-server") ? mkdtempSync(join(tmpdir(), "edgelm-llama-probe-")) : undefined;
      const before = connections;
      const result = await run(sandbox, probe(ownDir));
      const seen = attempts(result.stdout);
      assert.equal(result.code, 0, result.stderr);
      for (const name of ["tcp-connect", "write-outside", "read-key", "exec-shell", "syscall-outside-profile"]) {
        const attempt = seen.get(name);
        assert.ok(attempt, `${name} was not reported: ${result.stdout} ${result.stderr}`);
        assert.equal(attempt.ok, false, `${name} was not stopped: ${attempt.detail}`);
      }
      // How each was stopped: seccomp refuses non-Unix sockets and unlisted calls, the mount namespace hides the rest.
      assert.match(seen.get("tcp-connect")!.detail, /EAFNOSUPPORT|EPERM/);
      assert.match(seen.get("syscall-outside-profile")!.detail, /EPERM/);
      assert.match(seen.get("read-key")!.detail, /ENOENT/);
      assert.match(seen.get("exec-shell")!.detail, /ENOENT/);
      assert.equal(connections, before, "no TCP connection reached the test's listener");
      assert.equal(existsSync(join(outside, "escaped")), false);
      if (ownDir) {
        assert.equal(seen.get("write-own-dir")?.ok, true, seen.get("write-own-dir")?.detail);
        rmSync(ownDir, { recursive: true, force: true });
      }
    });
  }

  /** A sandbox as in a container: no bwrap, edgelm-seccomp-exec (compiled from the shipped source) in its place. */
  function withoutBwrap(loader: string): RunnerSandbox {
    const caps = { ...sandboxCapabilities(), bwrap: { reason: "bwrap cannot create namespaces here (as in a container)" }, seccompExec: { path: loader }, landlock: probeLandlock(loader) };
    return RunnerSandbox.create(testSandboxPolicy({ mode: "auto", hiddenPaths: [home] }), caps);
  }
  let loaderDir: string;
  let loader: string;
  before(() => {
    loaderDir = mkdtempSync(join(tmpdir(), "edgelm-seccomp-exec-"));
    loader = join(loaderDir, "edgelm-seccomp-exec");
    const cc = spawnSync("cc", ["-O2", "-Wall", "-Werror", "-o", loader, SECCOMP_EXEC_SOURCE], { encoding: "utf8" });
    assert.equal(cc.status, 0, cc.stderr);
  });
  after(() => rmSync(loaderDir, { recursive: true, force: true }));

  it("without bwrap (no user namespaces, as in a container) edgelm-seccomp-exec loads the filter and Landlock: TCP, writes outside, the key, a shell and unlisted calls are refused", async () => {
    // The loader refuses what is not a whole program, before running anything.
    const bad = spawnSync(loader, ["0", "--", "/bin/true"], { input: Buffer.alloc(5), encoding: "utf8" });
    assert.equal(bad.status, 125, bad.stderr);
    assert.match(bad.stderr, /not whole sock_filter records/);
    const landlock = probeLandlock(loader);
    const sandbox = withoutBwrap(loader);
    const protection = sandbox.describe();
    assert.ok(protection.applied.some((p) => /^system calls: .*AF_UNIX only \(edgelm-seccomp-exec\)$/.test(p)), protection.applied.join("; "));
    const ownDir = mkdtempSync(join(tmpdir(), "edgelm-landlock-own-"));
    const before = connections;
    const result = await run(sandbox, probe(ownDir));
    const seen = attempts(result.stdout);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(seen.get("tcp-connect")?.ok, false, seen.get("tcp-connect")?.detail);
    assert.match(seen.get("tcp-connect")!.detail, /EAFNOSUPPORT|EPERM/);
    assert.equal(seen.get("syscall-outside-profile")?.ok, false, seen.get("syscall-outside-profile")?.detail);
    assert.match(seen.get("syscall-outside-profile")!.detail, /EPERM/);
    assert.equal(connections, before, "no TCP connection reached the test's listener");
    if (landlock.abi >= 1) {
      // Landlock keeps the file system to what bwrap would mount: the key, a world-writable folder and a shell are out of reach.
      assert.ok(protection.applied.some((p) => p.startsWith("files: ") && p.includes(`Landlock ABI ${landlock.abi}`)), protection.applied.join("; "));
      for (const name of ["write-outside", "read-key", "exec-shell"]) {
        assert.equal(seen.get(name)?.ok, false, `${name}: ${seen.get(name)?.detail}`);
        assert.match(seen.get(name)!.detail, /EACCES/, name);
      }
      assert.equal(existsSync(join(outside, "escaped")), false);
      assert.equal(seen.get("write-own-dir")?.ok, true, seen.get("write-own-dir")?.detail);
      if (landlock.abi >= 4) assert.ok(protection.applied.some((p) => p.startsWith("network: every TCP bind and connect refused")), protection.applied.join("; "));
    } else {
      assert.ok(protection.missing.some((p) => p.startsWith("file system isolation: ") && p.includes("Landlock")), protection.missing.join("; "));
    }
    rmSync(ownDir, { recursive: true, force: true });
  });

  for (const engine of ["node-llama-cpp", "llama-server"] as const) {
    it(`without bwrap, a ${engine} runner loads the model and answers under edgelm-seccomp-exec and Landlock`, async () => {
      const sandbox = withoutBwrap(loader);
      const options = { path: TEST_MODEL, name: "stories", parallel: 1, contextSize: 256, threads: { decode: 1, prompt: 1 } };
      const runner =
        engine === "llama-server" ? new LlamaServerRunner(options, { binary: await testLlamaServer(), sandbox }) : new ChildProcessRunner(options, { sandbox });
      await runner.start();
      try {
        const stream = await runner.generate({ prompt: "Once upon a time", maxTokens: 8, temperature: 0 });
        for await (const _ of stream);
        const result = await stream.result;
        assert.ok(result.text.length > 0, JSON.stringify(result));
        assert.equal(result.finishReason, "length");
      } finally {
        await runner.dispose();
      }
    });
  }

  it("says which protection runners get, and nothing is missing on this machine", () => {
    const protection = testSandbox().describe();
    assert.deepEqual(protection.missing, []);
    const text = protection.applied.join("\n");
    for (const part of [/network namespace/, /seccomp/, /no_new_privs/, /read-only/, /private \/tmp/, /no core dumps/]) assert.match(text, part);
    if (sandboxCapabilities().uid === 0) assert.match(text, /runs as \S+ \(uid \d+\), not root/);
  });

  it("enforces the data limit from the model estimate plus headroom", async () => {
    const sandbox = testSandbox({ memoryHeadroomBytes: 384 * 2 ** 20 });
    const script = "try { const b = Buffer.alloc(768 * 2 ** 20, 1); console.log('allocated', b.length) } catch (e) { console.log('refused', e.message) }";
    const request = { command: process.execPath, args: ["-e", script], programPaths: [], modelPaths: [], writableDirs: [], env: process.env };
    const confined = await run(sandbox, request);
    assert.match(confined.stdout, /refused/, confined.stdout + confined.stderr);
    const roomy = await run(testSandbox({ memoryHeadroomBytes: 2048 * 2 ** 20 }), request);
    assert.match(roomy.stdout, /allocated/, roomy.stdout + roomy.stderr);
  });

  it("refuses clearly when the runner user does not exist (gateway as root)", () => {
    const caps = { ...sandboxCapabilities(), uid: 0 };
    assert.throws(
      () => RunnerSandbox.create(testSandboxPolicy({ user: "edgelm-no-such-user" }), caps),
      (e: unknown) => isEdgeError(e) && e.code === "sandbox_unavailable" && /edgelm-no-such-user/.test(e.message) && /sysusers|useradd/.test(e.message),
    );
  });

  it("refuses mode required when a protection is missing, and says why", () => {
    const caps = { ...sandboxCapabilities(), bwrap: { reason: "bwrap cannot create namespaces here (test)" } };
    assert.throws(
      () => RunnerSandbox.create(testSandboxPolicy(), caps),
      (e: unknown) => isEdgeError(e) && e.code === "sandbox_unavailable" && /network isolation: bwrap cannot create namespaces here \(test\)/.test(e.message),
    );
    const auto = RunnerSandbox.create(testSandboxPolicy({ mode: "auto" }), caps);
    assert.ok(auto.describe().missing.some((m) => /^seccomp: .*bwrap/.test(m)));
  });

  it("passes the command through untouched when off", () => {
    const plan = RunnerSandbox.create(testSandboxPolicy({ mode: "off" })).plan({ ...probe(), firstFd: 3 });
    assert.equal(plan.command, process.execPath);
    assert.deepEqual(plan.protection.applied, []);
  });
});

describe("runner seccomp profile", () => {
  it("ships the same call list as a podman/docker profile and a systemd SystemCallFilter=", () => {
    const profile = readSeccompProfile();
    const names = new Set(profile.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW").flatMap((r) => r.names));
    const conf = readFileSync(SECCOMP_PROFILE_PATH.replace(/\.json$/, ".conf"), "utf8");
    const filter = /^SystemCallFilter=(.*)$/m.exec(conf)?.[1]?.split(" ");
    assert.deepEqual(filter, [...names].sort());
    for (const refused of ["mount", "ptrace", "unshare", "setns", "bpf", "io_uring_setup", "keyctl", "init_module"]) assert.equal(names.has(refused), false, refused);
  });

  it("compiles for x86_64 and aarch64, and refuses what it cannot express", () => {
    const profile = readSeccompProfile();
    const x64 = compileSeccomp(profile, "x64");
    const arm64 = compileSeccomp(profile, "arm64");
    assert.equal(x64.length % 8, 0);
    assert.notDeepEqual(x64, arm64);
    // First instruction: load seccomp_data.arch; second: compare it with AUDIT_ARCH_X86_64.
    assert.equal(x64.readUInt16LE(0), 0x20);
    assert.equal(x64.readUInt32LE(8 + 4), 0xc000003e);
    assert.throws(() => compileSeccomp(profile, "ia32"), /no seccomp support/);
    assert.throws(() => compileSeccomp({ ...profile, syscalls: [{ names: ["read"], action: "SCMP_ACT_TRACE" }] }, "x64"), /unsupported action/);
    assert.throws(() => compileSeccomp({ ...profile, syscalls: [{ names: ["socket"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 1, op: "SCMP_CMP_GT" }] }] }, "x64"), /unsupported argument/);
  });
});
