/**
 * The container image, for real (the slow suite: `npm run test:container`, run by .ci/run after `npm test`):
 * built with deploy/container/build-image.sh (layers cached), started with a read-only root filesystem,
 * --cap-drop ALL, no-new-privileges, the shipped seccomp profile and a 1 GiB memory cap; it serves the demo model, passes
 * its /ready healthcheck and answers through the `openai` client. A second run under --memory 256m, asked to
 * serve a model whose F16 weights do not fit, serves its Q4_0 store variant instead.
 */
import assert from "node:assert/strict";
import { chownSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { loadConfig } from "../../src/config/load-config.js";
import { freePort } from "../../src/free-port.js";
import { writeSyntheticModel } from "../../src/gguf/synthetic-model.js";
import { parseSyntheticShape } from "../../src/gguf/synthetic-shape.js";
import { ModelStore } from "../../src/store/model-store.js";
import { quantizeVariant } from "../../src/store/quantize-variant.js";
import { resolveModel } from "../../src/store/resolve-model.js";
import { REPO_ROOT } from "../helpers.js";
import { podman } from "./podman.js";

const IMAGE = "localhost/edgelm:test";
const UID = 10001;
// The shipped container profile (scripts/trace-gateway-syscalls.ts traced it from this image on both engines).
const SECCOMP = join(REPO_ROOT, "deploy/seccomp/edgelm-gateway.json");

/** The flags docs/deployment.md gives. */
function hardenedRun(name: string, volume: string, port: number, memory: string, extra: string[] = []): string[] {
  return [
    "run", "-d", "--name", name,
    "--read-only", "--tmpfs", "/tmp:rw,size=64m",
    "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--security-opt", `seccomp=${SECCOMP}`,
    "--memory", memory, "--memory-swap", memory,
    "-v", `${volume}:/var/lib/edgelm`, "-p", `127.0.0.1:${port}:11435`,
    ...extra, IMAGE,
  ];
}

async function waitReady(url: string, name: string, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${url}/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) assert.fail(`${name} not ready after ${timeoutMs} ms:\n${podman(["logs", name]).stderr}${podman(["logs", name]).stdout}`);
    const state = podman(["inspect", "--format", "{{.State.Status}}", name]).stdout.trim();
    if (state === "exited") assert.fail(`${name} exited:\n${podman(["logs", name]).stdout}${podman(["logs", name]).stderr}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function chownTree(path: string): void {
  chownSync(path, UID, UID);
  if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry));
}

describe("container image (podman)", { timeout: 90 * 60_000 }, () => {
  const containers: string[] = [];
  const dirs: string[] = [];
  before(() => {
    const started = Date.now();
    const build = podman(["--tag", IMAGE], { command: join(REPO_ROOT, "deploy/container/build-image.sh"), timeoutMs: 80 * 60_000 });
    assert.equal(build.code, 0, `build-image.sh failed:\n${build.stdout.slice(-4000)}\n${build.stderr.slice(-4000)}`);
    process.stdout.write(`# image built in ${Math.round((Date.now() - started) / 1000)} s: ${build.stdout.trim().split("\n").at(-1)}\n`);
  });
  after(() => {
    for (const name of containers) podman(["rm", "-f", name]);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("is Debian 12 with Node and llama-server, no compilers, a non-root user and a /ready healthcheck", () => {
    const image = JSON.parse(podman(["image", "inspect", IMAGE]).stdout)[0];
    assert.equal(image.Config.User, `${UID}:${UID}`);
    assert.match(JSON.stringify((image.Healthcheck ?? image.Config.Healthcheck)?.Test ?? []), /\/ready/);
    const probe = podman(["run", "--rm", "--entrypoint", "sh", IMAGE, "-c", "grep VERSION_ID /etc/os-release; node --version; llama-server --version 2>&1 | head -1; id -u; for c in cc gcc g++ c++ cmake make clang; do command -v $c; done; true"]);
    assert.equal(probe.code, 0, probe.stderr);
    const [os, node, llama, uid, ...compilers] = probe.stdout.trim().split("\n");
    assert.equal(os, 'VERSION_ID="12"');
    assert.match(node!, /^v20\./);
    assert.match(llama!, /version/);
    assert.equal(uid, String(UID));
    assert.deepEqual(compilers, [], "no compiler in the final image");
    const size = Number(podman(["image", "inspect", "--format", "{{.Size}}", IMAGE]).stdout.trim());
    process.stdout.write(`# image size: ${(size / 1e6).toFixed(0)} MB\n`);
    assert.ok(size > 0);
  });

  it("the shipped seccomp profile refuses a call outside it that podman's default profile allows", () => {
    // mkfifo(1) calls mknodat, which neither the gateway nor its runners make.
    const run = (profile: string) => podman(["run", "--rm", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--security-opt", `seccomp=${profile}`, "--entrypoint", "mkfifo", IMAGE, "/tmp/probe"]);
    const shipped = run(SECCOMP);
    assert.notEqual(shipped.code, 0, "mknodat was allowed");
    assert.match(shipped.stderr, /Operation not permitted/);
    const fallback = run("/usr/share/containers/seccomp.json");
    assert.equal(fallback.code, 0, `the same call under podman's default profile: ${fallback.stderr}`);
  });

  it("runs read-only, without capabilities, under a 1 GiB cap: /ready, the healthcheck and the openai client", async () => {
    const volume = mkdtempSync(join(tmpdir(), "edgelm-volume-"));
    dirs.push(volume);
    chownTree(volume);
    const port = await freePort();
    const name = `edgelm-test-1g-${process.pid}`;
    containers.push(name);
    const run = podman(hardenedRun(name, volume, port, "1g"));
    assert.equal(run.code, 0, run.stderr);
    const url = `http://127.0.0.1:${port}`;
    await waitReady(url, name);
    const health = podman(["healthcheck", "run", name]);
    assert.equal(health.code, 0, `healthcheck: ${health.stdout}${health.stderr}`);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
    const models = await client.models.list();
    assert.ok(models.data.some((m) => m.id === "demo"));
    const completion = await client.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "Tell me about the fox." }], max_tokens: 12, temperature: 0 });
    assert.ok((completion.choices[0]!.message.content ?? "").length > 0);
    // The gateway sees the cap, not the host's RAM.
    const inspect = podman(["exec", name, "node", "/opt/edgelm/dist/src/cli/main.js", "inspect", "--json"]);
    assert.equal(inspect.code, 0, inspect.stderr);
    const system = JSON.parse(inspect.stdout).system;
    assert.equal(system.limit_bytes, 1024 ** 3);
    assert.match(system.source, /^cgroup-v[12]$/);
    // Nothing outside the volume and /tmp is writable.
    const write = podman(["exec", name, "sh", "-c", "touch /opt/edgelm/x 2>&1; touch /etc/x 2>&1; touch /var/lib/edgelm/ok && echo volume-ok"]);
    assert.match(write.stdout, /Read-only file system[\s\S]*Read-only file system[\s\S]*volume-ok/);
    const caps = podman(["exec", name, "sh", "-c", "grep -E '^(CapEff|NoNewPrivs)' /proc/1/status"]);
    assert.match(caps.stdout, /CapEff:\s+0000000000000000/);
    assert.match(caps.stdout, /NoNewPrivs:\s+1/);
    const rss = /VmRSS:\s+(\d+) kB/.exec(podman(["exec", name, "cat", "/proc/1/status"]).stdout)?.[1];
    const logs = podman(["logs", name]);
    // Runners in the container: no bwrap (no user namespaces), so the loader applies their seccomp filter and,
    // where the kernel has Landlock under this profile, their file rules.
    const sandboxLine = /runner sandbox .*/.exec(`${logs.stdout}${logs.stderr}`)?.[0] ?? "";
    assert.match(sandboxLine, /system calls: seccomp allow-list .*AF_UNIX only \(edgelm-seccomp-exec\)/, sandboxLine);
    const landlock = Number(podman(["exec", name, "edgelm-seccomp-exec", "--landlock-abi"]).stdout.trim());
    if (landlock >= 1) assert.match(sandboxLine, new RegExp(`files: .*\\(Landlock ABI ${landlock}, edgelm-seccomp-exec\\)`), sandboxLine);
    process.stdout.write(`# runners in the container: ${sandboxLine}\n`);
    process.stdout.write(`# idle gateway (pid 1) VmRSS in the container: ${(Number(rss) / 1024).toFixed(0)} MiB; ${/engine: .*/.exec(logs.stdout)?.[0] ?? ""}\n`);
  });

  it("under --memory 256m serves the largest store variant that fits instead of an F16 model that does not", async () => {
    const volume = mkdtempSync(join(tmpdir(), "edgelm-volume-"));
    dirs.push(volume);
    const { config } = loadConfig({ env: { EDGELM_HOME: volume } });
    const f16 = join(volume, "mid-f16.gguf");
    await writeSyntheticModel(f16, { shape: parseSyntheticShape("embd=768,layers=12,heads=12,kv=4,ffn=2048,vocab=32000,ctx=2048,tied"), type: "f16" });
    const store = new ModelStore(volume);
    await store.add(f16, { name: "mid:f16" });
    rmSync(f16);
    await quantizeVariant(await resolveModel("mid:f16", config, { allowDownload: false }), { name: "mid", tag: "q4_0" }, config, { target: "q4_0", workers: 0 });
    chownTree(volume);
    const port = await freePort();
    const name = `edgelm-test-256m-${process.pid}`;
    containers.push(name);
    const run = podman(hardenedRun(name, volume, port, "256m").concat(["serve", "--model", "assistant=mid:f16", "--parallel", "1", "--ctx", "256"]));
    assert.equal(run.code, 0, run.stderr);
    const url = `http://127.0.0.1:${port}`;
    await waitReady(url, name);
    const logs = podman(["logs", name]);
    assert.match(`${logs.stdout}${logs.stderr}`, /memory: assistant: mid:f16 needs about \d+ MiB but the cgroup-v[12] memory limit of 256 MiB leaves \d+ MiB; serving its variant mid:q4_0/);
    await new Promise((r) => setTimeout(r, 500));
    assert.match(podman(["logs", name]).stdout, /assistant\s+ready\s.*Q4_0/);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
    const completion = await client.completions.create({ model: "assistant", prompt: "Once upon a time", max_tokens: 8 });
    assert.equal(completion.choices.length, 1);
  });
});
