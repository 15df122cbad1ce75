/**
 * Derives the runner seccomp profile from what the runners really call: runs
 * both engines in the sandbox (without a filter) under `strace -f` through
 * load, generate (two sequences at once too), embed, tokenize, abort and stop,
 * and writes
 *   deploy/seccomp/edgelm-runner.json   podman/docker profile (the sandbox compiles it for bwrap)
 *   deploy/seccomp/edgelm-runner.conf   the same list as a systemd SystemCallFilter= drop-in
 * Needs root (strace inside the sandbox), strace and bubblewrap:
 *   npx tsc -p tsconfig.json && node dist/scripts/trace-runner-syscalls.js MODEL.gguf LLAMA_SERVER
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LlamaServerRunner } from "../src/engine/llama-server/llama-server-runner.js";
import type { Runner } from "../src/engine/runner.js";
import { ChildProcessRunner } from "../src/engine/runners/child-process-runner.js";
import { RunnerSandbox, type SandboxRequest, type SpawnPlan } from "../src/engine/sandbox/runner-sandbox.js";

const [model, llamaServer] = process.argv.slice(2);
if (!model || !llamaServer) throw new Error("usage: trace-runner-syscalls MODEL.gguf LLAMA_SERVER");

/**
 * Calls every runner makes on paths a short trace may not hit: exiting, signal
 * delivery and return (a crash must still be reported as a signal), aborts,
 * timed waits, memory remapping and yields of OpenMP's spinning threads, and
 * writev (llama-server's HTTP layer gathers a response's pieces into one write
 * when tokens pile up under load; refused, the contract suite's abort test fails).
 */
const ESSENTIAL = [
  "writev",
  "exit", "exit_group", "rt_sigreturn", "restart_syscall", "sigaltstack", "tgkill", "kill", "getpid", "gettid",
  "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "sched_yield", "mremap",
  "membarrier", "getrusage", "sched_getaffinity", "sched_setaffinity", "epoll_wait", "ppoll", "pselect6", "select",
];
/** Calls allowed only with arguments the profile checks (below); kept out of the plain list. */
const CHECKED = new Set(["socket", "socketpair", "clone", "clone3"]);

const trace = mkdtempSync(join(tmpdir(), "edgelm-trace-"));
const sandbox = RunnerSandbox.create({ mode: "auto", user: process.env.EDGELM_TRACE_USER ?? "nobody", memoryHeadroomBytes: 1 << 30, openFiles: 1024, processes: 1024, hiddenPaths: [] });
const plan = sandbox.plan.bind(sandbox);
let runs = 0;
// strace goes right before setpriv, inside the namespaces, so it records the setpriv + engine chain the filter covers.
sandbox.plan = (request: SandboxRequest): SpawnPlan => {
  const out = join(trace, `run-${++runs}`);
  const wrapped = plan({ ...request, programPaths: [...request.programPaths, "/usr/bin/strace"], writableDirs: [...request.writableDirs, trace] });
  // Traced without the current filter (strace's ptrace is not in it, and the trace must see what a new one needs).
  const filter = wrapped.args.indexOf("--seccomp");
  if (filter >= 0) wrapped.args.splice(filter, 2);
  const at = wrapped.args.lastIndexOf("/usr/bin/setpriv");
  wrapped.args.splice(at, 0, "/usr/bin/strace", "-f", "-qq", "-o", out);
  return wrapped;
};

const spec = { path: model, name: "trace", parallel: 2, contextSize: 256, threads: { decode: 2, prompt: 2 } };
const runners: Runner[] = [new ChildProcessRunner(spec, { sandbox }), new LlamaServerRunner(spec, { binary: llamaServer, sandbox })];
for (const runner of runners) {
  await runner.start();
  for (let seed = 0; seed < 2; seed++) for await (const _ of await runner.generate({ prompt: "Once upon a time", maxTokens: 48, temperature: 0.8, seed }));
  await Promise.all([0, 1].map(async () => { for await (const _ of await runner.generate({ prompt: "The cat", maxTokens: 24 })); }));
  await runner.embed(["hello world", "a second input"]);
  await runner.detokenize(await runner.tokenize("Once upon"));
  await runner.health();
  const abort = new AbortController();
  let seen = 0;
  try {
    for await (const _ of await runner.generate({ prompt: "Once upon a time", maxTokens: -1, temperature: 0.8 }, abort.signal)) if (++seen === 5) abort.abort();
  } catch {
    // the abort
  }
  await runner.dispose();
}

const traced = new Set<string>();
for (let run = 1; run <= runs; run++) {
  for (const line of readFileSync(join(trace, `run-${run}`), "utf8").split("\n")) {
    const name = /^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]/.exec(line)?.[1];
    if (name) traced.add(name);
  }
}
rmSync(trace, { recursive: true, force: true });
const names = [...new Set([...traced, ...ESSENTIAL])].filter((n) => !CHECKED.has(n)).sort();
const AF_UNIX = 1;
/** Namespace flags (CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME): a runner makes threads and plain children only. */
const CLONE_NEW_MASK = 0x7e020080;
const profile = {
  comment: `edgelm runner profile, derived by scripts/trace-runner-syscalls.ts from strace -f of node-llama-cpp and llama-server runners (${[...traced].length} calls traced) plus runtime essentials`,
  defaultAction: "SCMP_ACT_ERRNO",
  defaultErrnoRet: 1,
  architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
  syscalls: [
    { names, action: "SCMP_ACT_ALLOW" },
    { names: ["socket", "socketpair"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: AF_UNIX, op: "SCMP_CMP_EQ" }], comment: "Unix sockets only: no network" },
    { names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: CLONE_NEW_MASK, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }], comment: "threads and children, no new namespaces" },
    { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38, comment: "ENOSYS: its flags cannot be checked, glibc falls back to clone" },
  ],
};
const root = fileURLToPath(new URL("../../deploy/seccomp/", import.meta.url));
writeFileSync(join(root, "edgelm-runner.json"), `${JSON.stringify(profile, null, 2)}\n`);
writeFileSync(
  join(root, "edgelm-runner.conf"),
  `# The edgelm runner's system calls as a systemd drop-in (generated by scripts/trace-runner-syscalls.ts with\n# deploy/seccomp/edgelm-runner.json; socket families are RestrictAddressFamilies= in systemd).\n[Service]\nSystemCallFilter=${[...names, "socket", "socketpair", "clone"].sort().join(" ")}\nSystemCallErrorNumber=EPERM\n`,
);
console.log(`${names.length + 3} calls: ${traced.size} traced in ${runs} runner processes`);
