/**
 * Derives the container profile from what the image really calls: runs the built image (podman, without a
 * seccomp filter, capabilities dropped) with strace as its first process, serves the demo model on each engine
 * (llama-server, then node-llama-cpp) and drives it from outside through what clients and operators do —
 * /ready, /health, /metrics, model lists, chat and completions (plain and streamed, OpenAI and Ollama), an
 * embedding request, a stream the client abandons, `edgelm inspect` and the image's healthcheck through
 * `podman exec`, then a graceful stop — and writes
 *   deploy/seccomp/edgelm-gateway.json   the profile for `podman|docker run --security-opt seccomp=...`
 * The runners' own profile (deploy/seccomp/edgelm-runner.json) is merged in: in a container they run under
 * the container's filter too. Sockets are allowed for the families the trace saw (and AF_UNIX, AF_INET,
 * AF_INET6), clone without namespace flags, and io_uring never (libuv falls back to its thread pool).
 * Needs root, podman, strace and a built image:
 *   deploy/container/build-image.sh && npx tsc -p tsconfig.json && node dist/scripts/trace-gateway-syscalls.js [IMAGE]
 */
import { spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

const image = process.argv[2] ?? "localhost/edgelm:latest";
const repo = fileURLToPath(new URL("../../", import.meta.url));
const env = { ...process.env, CONTAINERS_CONF: join(repo, "deploy/container/containers.conf") };
const UID = 10001;

function podman(args: string[]): string {
  const result = spawnSync("podman", args, { env, encoding: "utf8", timeout: 300_000 });
  if (result.status !== 0) throw new Error(`podman ${args.slice(0, 3).join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

/** strace and the libraries it needs that the image lacks, mounted read-only. */
function straceMounts(): string[] {
  const mounts = ["-v", "/usr/bin/strace:/opt/strace/strace:ro"];
  const ldd = spawnSync("ldd", ["/usr/bin/strace"], { encoding: "utf8" }).stdout;
  for (const lib of ldd.matchAll(/=>\s+(\S+libunwind\S*)/g)) mounts.push("-v", `${lib[1]}:/opt/strace/lib/${basename(lib[1]!)}:ro`);
  return mounts;
}

async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${url} not ready`);
}

/** What clients and operators do with a running gateway (errors are answers too: their paths count). */
async function drive(url: string, name: string, run: number): Promise<void> {
  const post = (path: string, body: unknown, signal?: AbortSignal) =>
    fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), ...(signal ? { signal } : {}) });
  for (const path of ["/ready", "/health", "/metrics", "/v1/models", "/api/tags", "/api/version", "/", "/nothing-here"]) await (await fetch(`${url}${path}`)).text();
  const messages = [{ role: "user", content: "Tell me about the fox." }];
  await (await post("/v1/chat/completions", { model: "demo", messages, max_tokens: 16, temperature: 0 })).text();
  await (await post("/v1/chat/completions", { model: "demo", messages, max_tokens: 16, stream: true })).text();
  await (await post("/v1/completions", { model: "demo", prompt: "Once upon a time", max_tokens: 16, stream: true })).text();
  await (await post("/api/chat", { model: "demo", messages, options: { num_predict: 12 } })).text();
  await (await post("/api/generate", { model: "demo", prompt: "The fox", stream: false })).text();
  await (await post("/v1/embeddings", { model: "demo", input: ["hello", "world"] })).text();
  await (await post("/v1/chat/completions", { model: "demo", messages: "not a list" })).text();
  await Promise.all([1, 2].map(async () => (await post("/v1/completions", { model: "demo", prompt: "The cat", max_tokens: 24 })).text()));
  // A stream abandoned by its client after a few chunks.
  const abort = new AbortController();
  try {
    const response = await post("/v1/completions", { model: "demo", prompt: "Once upon a time", max_tokens: 400, stream: true }, abort.signal);
    let chunks = 0;
    for await (const _ of response.body!) if (++chunks === 3) abort.abort();
  } catch {
    // the abort
  }
  await new Promise((r) => setTimeout(r, 500));
  const exec = (n: number, command: string[]) =>
    podman(["exec", "-e", "LD_LIBRARY_PATH=/opt/strace/lib", name, "/opt/strace/strace", "-f", "-qq", "-o", `/trace/exec-${run}-${n}`, ...command]);
  exec(1, ["node", "/opt/edgelm/dist/src/cli/main.js", "inspect", "--json"]);
  exec(2, ["node", "-e", "fetch(`http://127.0.0.1:${process.env.EDGELM_PORT}/ready`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]);
  podman(["stop", "--time", "30", name]);
}

const trace = mkdtempSync(join(tmpdir(), "edgelm-gateway-trace-"));
const runs = [["serve"], ["serve", "--engine", "node-llama-cpp"]];
try {
  for (const [i, args] of runs.entries()) {
    const volume = mkdtempSync(join(tmpdir(), "edgelm-trace-volume-"));
    chownSync(volume, UID, UID);
    chownSync(trace, UID, UID);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const name = `edgelm-trace-${process.pid}-${i}`;
    podman([
      "run", "-d", "--name", name, "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--security-opt", "seccomp=unconfined",
      "--tmpfs", "/tmp:rw,size=64m", "-v", `${volume}:/var/lib/edgelm`, "-v", `${trace}:/trace`, ...straceMounts(),
      "-e", "LD_LIBRARY_PATH=/opt/strace/lib", "-p", `127.0.0.1:${port}:11435`,
      "--entrypoint", "/opt/strace/strace", image, "-f", "-qq", "-o", `/trace/gateway-${i}`, "node", "/opt/edgelm/dist/src/cli/main.js", ...args,
    ]);
    try {
      await waitReady(`http://127.0.0.1:${port}`);
      await drive(`http://127.0.0.1:${port}`, name, i);
    } finally {
      spawnSync("podman", ["rm", "-f", name], { env });
      rmSync(volume, { recursive: true, force: true });
    }
  }
  const traced = new Set<string>();
  const families = new Set<string>();
  for (const file of readdirSync(trace)) {
    for (const line of readFileSync(join(trace, file), "utf8").split("\n")) {
      const call = /^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]/.exec(line)?.[1];
      if (call) traced.add(call);
      const family = /\bsocket\((AF_[A-Z0-9]+)/.exec(line)?.[1];
      if (family) families.add(family);
    }
  }
  writeProfile(traced, families);
} finally {
  rmSync(trace, { recursive: true, force: true });
}

function writeProfile(traced: Set<string>, families: Set<string>): void {
  /** Address families by number (linux/socket.h): the ones a gateway may use. */
  const FAMILY: Record<string, number> = { AF_UNIX: 1, AF_INET: 2, AF_INET6: 10, AF_NETLINK: 16 };
  for (const family of ["AF_UNIX", "AF_INET", "AF_INET6"]) families.add(family);
  const unknown = [...families].filter((f) => FAMILY[f] === undefined);
  if (unknown.length > 0) throw new Error(`the gateway opened sockets of families this script does not know: ${unknown.join(", ")}`);
  const runner = JSON.parse(readFileSync(join(repo, "deploy/seccomp/edgelm-runner.json"), "utf8")) as { syscalls: Array<{ names: string[]; action: string; args?: unknown[] }> };
  const runnerNames = runner.syscalls.filter((s) => s.action === "SCMP_ACT_ALLOW" && !s.args).flatMap((s) => s.names);
  const checked = new Set(["socket", "socketpair", "clone", "clone3"]);
  /**
   * File management a serving trace does not reach but the store does (pull, add, rm, quantize, atomic writes,
   * the prefix cache's state files, `podman exec … edgelm pull`): removing, truncating, syncing, renaming,
   * linking, copying (copy_file_range/sendfile), permissions and times, and the statfs a free-space check makes.
   */
  const STORE_CALLS = ["unlink", "unlinkat", "rmdir", "mkdirat", "ftruncate", "fdatasync", "fsync", "rename", "renameat", "renameat2", "link", "linkat", "copy_file_range", "sendfile", "fchmod", "fchmodat", "chmod", "utimensat", "statfs", "faccessat", "faccessat2", "readlinkat", "flock"];
  /** What an operator's `podman exec … sh -c …` needs beyond the gateway's own calls: Debian's dash starts commands with vfork. */
  const SHELL_CALLS = ["vfork"];
  /** edgelm-seccomp-exec confines each runner's files with Landlock before its filter (they only take rights away). */
  const LANDLOCK_CALLS = ["landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"];
  const tracedCount = traced.size;
  for (const call of [...STORE_CALLS, ...SHELL_CALLS, ...LANDLOCK_CALLS]) traced.add(call);
  const names = [...new Set([...traced, ...runnerNames])].filter((n) => !checked.has(n) && !n.startsWith("io_uring")).sort();
  const CLONE_NEW_MASK = 0x7e020080;
  const profile = {
    comment: `edgelm container profile (gateway and runners), derived by scripts/trace-gateway-syscalls.ts from strace -f of the image serving on both engines, the store's file calls and deploy/seccomp/edgelm-runner.json`,
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
    syscalls: [
      { names, action: "SCMP_ACT_ALLOW" },
      ...[...families].sort((a, b) => FAMILY[a]! - FAMILY[b]!).map((family) => ({
        names: ["socket", "socketpair"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: FAMILY[family]!, op: "SCMP_CMP_EQ" }],
        comment: family,
      })),
      { names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: CLONE_NEW_MASK, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }], comment: "threads and children, no new namespaces" },
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38, comment: "ENOSYS: its flags cannot be checked, glibc falls back to clone" },
      { names: ["io_uring_setup", "io_uring_enter", "io_uring_register"], action: "SCMP_ACT_ERRNO", errnoRet: 38, comment: "ENOSYS: libuv uses its thread pool instead" },
    ],
  };
  writeFileSync(join(repo, "deploy/seccomp/edgelm-gateway.json"), `${JSON.stringify(profile, null, 2)}\n`);
  console.log(`${names.length} calls allowed (${tracedCount} traced), socket families: ${[...families].sort().join(" ")}`);
}
