/**
 * What this machine lets us use to confine a runner, found once per process by
 * trying each tool for real: bubblewrap (mount, network and PID namespaces,
 * seccomp), util-linux's setpriv (no_new_privs, dropping to a user, capability
 * sets) and prlimit (resource limits). A tool that is installed but refused by
 * the kernel (no user namespaces in this container, say) counts as missing, with
 * the kernel's reason.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";

export interface SandboxTool {
  /** Absolute path of the tool, when it works here. */
  path?: string;
  /** Why it cannot be used, when `path` is absent. */
  reason?: string;
}

export interface SandboxCapabilities {
  /** bubblewrap that can create mount, PID and network namespaces here. */
  bwrap: SandboxTool;
  setpriv: SandboxTool;
  prlimit: SandboxTool;
  /**
   * edgelm's own filter loader (deploy/seccomp/edgelm-seccomp-exec.c, installed on PATH as edgelm-seccomp-exec):
   * the runner's seccomp filter where bwrap cannot load it (no user namespaces).
   */
  seccompExec: SandboxTool;
  /**
   * The kernel's Landlock ABI (0: none), as edgelm-seccomp-exec reports it: with 1 or more the loader also confines
   * the runner's file system where bwrap cannot, and with 4 or more refuses it every TCP bind and connect.
   */
  landlock: { abi: number; reason?: string };
  /** Our effective uid (0 when root). */
  uid: number;
}

const PROBE_TIMEOUT_MS = 5000;
let cached: SandboxCapabilities | undefined;

/** Probes the tools once per process (a few ms each) and caches the answer. */
export function sandboxCapabilities(): SandboxCapabilities {
  if (!cached) {
    const seccompExec = probeSeccompExec();
    cached = {
      bwrap: probeBwrap(),
      setpriv: probe("setpriv", ["--no-new-privs", "--", "true"]),
      prlimit: probe("prlimit", ["--core=0", "--", "true"]),
      seccompExec,
      landlock: seccompExec.path ? probeLandlock(seccompExec.path) : { abi: 0, reason: "it is applied by edgelm-seccomp-exec, which is not available" },
      uid: process.getuid?.() ?? -1,
    };
  }
  return cached;
}

/** The Landlock ABI the loader at `loader` finds in this kernel. */
export function probeLandlock(loader: string): { abi: number; reason?: string } {
  const run = spawnSync(loader, ["--landlock-abi"], { encoding: "utf8", timeout: PROBE_TIMEOUT_MS });
  const abi = run.status === 0 ? Number.parseInt(`${run.stdout}`.trim(), 10) : Number.NaN;
  if (!Number.isInteger(abi)) return { abi: 0, reason: `edgelm-seccomp-exec --landlock-abi failed (an older build of the loader?): ${`${run.stderr ?? ""}`.trim() || `exit ${run.status}`}` };
  return abi > 0 ? { abi } : { abi: 0, reason: "this kernel offers no Landlock (not built in, or not in its lsm= list)" };
}

function probeBwrap(): SandboxTool {
  const path = which("bwrap");
  if (!path) return { reason: "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)" };
  const args = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"];
  const run = spawnSync(path, args, { encoding: "utf8", timeout: PROBE_TIMEOUT_MS });
  if (run.status === 0) return { path };
  const said = `${run.stderr ?? ""}`.trim().split("\n").pop() || run.error?.message || `exit ${run.status}`;
  return { reason: `bwrap cannot create namespaces here (${said}); user namespaces may be disabled in this container or kernel` };
}

/** One BPF instruction, `return SECCOMP_RET_ALLOW`: the loader's probe filter. */
const ALLOW_ALL = Buffer.from([0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x7f]);

function probeSeccompExec(): SandboxTool {
  const path = which("edgelm-seccomp-exec");
  if (!path) return { reason: "edgelm-seccomp-exec is not installed (cc -O2 -o /usr/local/bin/edgelm-seccomp-exec deploy/seccomp/edgelm-seccomp-exec.c)" };
  const truePath = which("true");
  if (!truePath) return { reason: "no true(1) to probe edgelm-seccomp-exec with" };
  const run = spawnSync(path, ["0", "--", truePath], { input: ALLOW_ALL, encoding: "utf8", timeout: PROBE_TIMEOUT_MS });
  if (run.status === 0) return { path };
  return { reason: `edgelm-seccomp-exec does not work here: ${`${run.stderr ?? ""}`.trim() || run.error?.message || `exit ${run.status}`}` };
}

function probe(name: string, args: string[]): SandboxTool {
  const path = which(name);
  if (!path) return { reason: `${name} (util-linux) is not installed` };
  const run = spawnSync(path, args, { encoding: "utf8", timeout: PROBE_TIMEOUT_MS });
  if (run.status === 0) return { path };
  return { reason: `${name} does not work here: ${`${run.stderr ?? ""}`.trim() || run.error?.message || `exit ${run.status}`}` };
}

function which(name: string): string | undefined {
  for (const dir of ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]) {
    const candidate = `${dir}/${name}`;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
