/**
 * The confinement every runner process (node-llama-cpp child or llama-server)
 * is started in. `RunnerSandbox.plan()` takes the command a spawn point would
 * run and returns the wrapped command, its environment and a description of
 * the protection applied, so each spawn point changes by a few lines only.
 *
 * With every tool present the runner is started as
 *
 *     prlimit --core=0 --data=… --nofile=… --nproc=… --
 *       bwrap <new mount, PID, IPC, UTS and network namespaces; a file system of
 *              system libraries, the program, the model read-only, its own dirs>
 *             --seccomp <fd> --
 *         setpriv --no-new-privs [--reuid/--regid <user> when root] --inh-caps=-all … --
 *           <command>
 *
 * and what is missing on this machine is said, with why (sandbox-capabilities.ts).
 * Without bwrap (no user namespaces, e.g. in a container) the filter is loaded
 * by edgelm-seccomp-exec <fd> -- in bwrap's place, when it is installed; where
 * the kernel has Landlock, the loader also confines the file system to what
 * bwrap would have mounted (--read/--write) and refuses TCP.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import { EdgeError } from "../../errors.js";
import { sandboxCapabilities, type SandboxCapabilities } from "./sandbox-capabilities.js";
import { compiledSeccompProgram } from "./seccomp-program.js";

/** `engine.sandbox` in the config, in the units the code uses. */
export interface SandboxPolicy {
  /** auto: the strongest protection this machine allows; required: refuse to start a runner without namespaces and seccomp; off: none. */
  mode: "auto" | "required" | "off";
  /** The unprivileged user runners run as when the gateway is root. Default "edgelm". */
  user: string;
  /** Added to the model's estimated memory for RLIMIT_DATA, in bytes. Default 512 MiB. */
  memoryHeadroomBytes: number;
  /** RLIMIT_NOFILE. Default 1024. */
  openFiles: number;
  /** RLIMIT_NPROC: processes and threads of the runner's user, counted by the kernel across the user. Default 1024. */
  processes: number;
  /** Paths that must stay invisible to runners ($EDGELM_HOME, the config file), hidden even when under a bound path. */
  hiddenPaths: string[];
}

/** What one spawn point wants to run. */
export interface SandboxRequest {
  command: string;
  args: string[];
  /** Files and folders the program itself needs, mounted read-only at the same path (the binary, node's dist/ and node_modules/). */
  programPaths: string[];
  /** Model files, mounted read-only at the same path. */
  modelPaths: string[];
  /** Folders the runner writes in (llama-server's socket folder), mounted read-write; owned by the runner user when root. */
  writableDirs: string[];
  /** The environment the runner would get; the sandbox keeps only what an engine needs. */
  env: NodeJS.ProcessEnv;
  /** The model's estimated memory in bytes (weights + KV cache + compute), for RLIMIT_DATA; absent when unknown. */
  memoryBytes?: number;
  /** The first child fd after the spawn point's own stdio (3, or 4 after an IPC channel). */
  firstFd: number;
}

/** What the spawn point runs instead. */
export interface SpawnPlan {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Open fds to append to the spawn's stdio array (the seccomp program); closed by `release()`. */
  extraStdio: number[];
  protection: SandboxProtection;
  /** Closes the fds and removes the private temp dir (call after spawn; the temp dir after exit). */
  release(): void;
}

export interface SandboxProtection {
  /** One line per protection applied, e.g. "network: own network namespace (bwrap)". */
  applied: string[];
  /** One line per protection not applied, with why. */
  missing: string[];
}

/** The environment variables an engine may read; everything else (API keys, EDGELM_*) stays with the gateway. */
const KEPT_ENV = /^(LANG|LANGUAGE|LC_[A-Z]+|TZ|NODE_LLAMA_CPP_[A-Z0-9_]+|GGML_[A-Z0-9_]+|OMP_[A-Z0-9_]+|NODE_CHANNEL_[A-Z_]+)$/;

/** System folders every runner gets read-only: shared libraries and the CPU topology llama.cpp and OpenMP read. */
const SYSTEM_BINDS = ["/usr/lib", "/usr/lib64", "/usr/lib32", "/etc/ld.so.cache", "/etc/localtime", "/sys/devices/system/cpu", "/sys/devices/system/node"];

/** Devices a runner without bwrap may open (bwrap's --dev gives it these and the like). */
const LANDLOCK_DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"];

/**
 * Files a runner without bwrap may read besides SYSTEM_BINDS: where bwrap's file system simply lacks a file (ENOENT),
 * Landlock refuses it (EACCES), and Debian's Node treats a refused OpenSSL configuration as fatal.
 */
const LANDLOCK_READ = ["/etc/ssl/openssl.cnf"];

/** The tmpfs size of a runner's /tmp, in bytes: engines write nothing there, a misbehaving one cannot fill RAM through it. */
const TMPFS_BYTES = 16 << 20;

export class RunnerSandbox {
  private constructor(
    readonly policy: SandboxPolicy,
    private readonly caps: SandboxCapabilities,
    /** uid/gid to drop to (when root). */
    private readonly runAs: { name: string; uid: number; gid: number } | undefined,
    /** Path of the compiled seccomp program for this CPU, when bwrap can load it. */
    private readonly seccompFile: string | undefined,
    private readonly seccompMissing: string | undefined,
  ) {}

  /**
   * Probes the machine and checks the policy against it. Throws
   * `sandbox_unavailable` when running as root and `policy.user` does not exist
   * (or is root), or when `mode: required` and a protection cannot be applied.
   */
  static create(policy: SandboxPolicy, caps: SandboxCapabilities = sandboxCapabilities()): RunnerSandbox {
    if (policy.mode === "off") return new RunnerSandbox(policy, caps, undefined, undefined, "engine.sandbox.mode is off");
    let runAs: RunnerSandbox["runAs"];
    if (caps.uid === 0) {
      if (!caps.setpriv.path) {
        throw new EdgeError("sandbox_unavailable", `the gateway runs as root but cannot drop runners to an unprivileged user: ${caps.setpriv.reason}; install util-linux or run the gateway as an unprivileged user`);
      }
      runAs = lookupUser(policy.user);
    }
    let seccompFile: string | undefined;
    let seccompMissing: string | undefined;
    if (!caps.bwrap.path && !caps.seccompExec.path) {
      seccompMissing = `it is loaded through bwrap or edgelm-seccomp-exec, and neither is available: ${caps.bwrap.reason}; ${caps.seccompExec.reason}`;
    } else {
      const compiled = compiledSeccompProgram();
      if ("path" in compiled) seccompFile = compiled.path;
      else seccompMissing = compiled.reason;
    }
    const sandbox = new RunnerSandbox(policy, caps, runAs, seccompFile, seccompMissing);
    if (policy.mode === "required") {
      const missing = sandbox.describe().missing;
      if (missing.length > 0) throw new EdgeError("sandbox_unavailable", `engine.sandbox.mode is required but: ${missing.join("; ")}`);
    }
    return sandbox;
  }

  /** What every runner gets on this machine (the gateway logs it at start). */
  describe(): SandboxProtection {
    const { caps, policy } = this;
    if (policy.mode === "off") return { applied: [], missing: ["every protection: engine.sandbox.mode is off"] };
    const applied: string[] = [];
    const missing: string[] = [];
    if (this.runAs) applied.push(`user: runs as ${this.runAs.name} (uid ${this.runAs.uid}), not root`);
    else applied.push(`user: the gateway's own (uid ${caps.uid}, not root)`);
    if (caps.setpriv.path) applied.push("privileges: no_new_privs, no capabilities (setpriv)");
    else missing.push(`no_new_privs: ${caps.setpriv.reason}`);
    if (caps.prlimit.path) applied.push(`limits: no core dumps, data = model estimate + ${Math.round(policy.memoryHeadroomBytes / 2 ** 20)} MiB, ${policy.openFiles} open files, ${policy.processes} processes (prlimit)`);
    else missing.push(`resource limits and no core dumps: ${caps.prlimit.reason}`);
    if (caps.bwrap.path) {
      applied.push("network: own empty network namespace (bwrap)");
      applied.push("files: system libraries, the program and the model read-only, its own folder writable; no $EDGELM_HOME, keys or config (bwrap)");
      applied.push("temp: private /tmp (tmpfs)");
      applied.push("processes: own PID and IPC namespaces (bwrap)");
    } else {
      const landlock = this.landlockAbi();
      if (landlock >= 4) applied.push(`network: every TCP bind and connect refused (Landlock ABI ${landlock}, edgelm-seccomp-exec); no network namespace (${caps.bwrap.reason})`);
      else missing.push(`network isolation: ${caps.bwrap.reason}${landlock > 0 ? `; Landlock ABI ${landlock} cannot refuse TCP (4 can)` : ""}`);
      if (landlock >= 1) applied.push(`files: system libraries, the program and the model read-only, its own folders writable; nothing else of the file system, no $EDGELM_HOME, keys or config (Landlock ABI ${landlock}, edgelm-seccomp-exec)`);
      else missing.push(`file system isolation: ${caps.bwrap.reason}; Landlock: ${this.seccompFile && caps.seccompExec.path ? caps.landlock.reason : "needs edgelm-seccomp-exec and the seccomp program"}`);
      applied.push("temp: private 0700 TMPDIR");
    }
    if (this.seccompFile) applied.push(`system calls: seccomp allow-list deploy/seccomp/edgelm-runner.json, sockets AF_UNIX only${caps.bwrap.path ? "" : " (edgelm-seccomp-exec)"}`);
    else missing.push(`seccomp: ${this.seccompMissing}`);
    return { applied, missing };
  }

  /** The wrapped command for one runner process. */
  plan(request: SandboxRequest): SpawnPlan {
    const { caps, policy } = this;
    const protection = this.describe();
    if (policy.mode === "off") {
      return { command: request.command, args: request.args, env: request.env, extraStdio: [], protection, release: () => {} };
    }
    for (const path of request.modelPaths) this.checkReadable(path);
    const env = keptEnv(request.env);
    const fds: number[] = [];
    let privateTmp: string | undefined;
    const release = (): void => {
      for (const fd of fds.splice(0)) closeSync(fd);
    };
    const releaseAll = (): void => {
      release();
      if (privateTmp) rmSync(privateTmp, { recursive: true, force: true });
    };
    for (const dir of request.writableDirs) this.giveToRunner(dir);

    let inner: string[] = [request.command, ...request.args];
    if (caps.setpriv.path) {
      const drop = this.runAs ? [`--reuid=${this.runAs.uid}`, `--regid=${this.runAs.gid}`, "--clear-groups"] : [];
      const caps_ = caps.uid === 0 ? ["--inh-caps=-all", "--bounding-set=-all"] : [];
      inner = [caps.setpriv.path, "--no-new-privs", ...drop, ...caps_, "--pdeathsig", "SIGKILL", "--", ...inner];
    }
    if (caps.bwrap.path) {
      env.HOME = "/tmp";
      env.TMPDIR = "/tmp";
      env.PATH = "/usr/bin";
      const mounts = this.bwrapMounts(request, caps.setpriv.path);
      const seccomp: string[] = [];
      if (this.seccompFile) {
        fds.push(openSync(this.seccompFile, "r"));
        seccomp.push("--seccomp", String(request.firstFd));
      }
      inner = [
        caps.bwrap.path,
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-cgroup-try",
        // Root keeps CAP_SETUID/SETGID/SETPCAP for setpriv, which drops them with the user; others have none to keep.
        "--die-with-parent", "--new-session", ...(this.runAs && caps.setpriv.path ? [] : ["--cap-drop", "ALL"]),
        ...mounts,
        ...seccomp,
        "--chdir", "/tmp",
        "--", ...inner,
      ];
    } else {
      // No bwrap: the filter (and Landlock's file rules) are loaded by edgelm's own loader, right before setpriv.
      privateTmp = mkdtempSync(join(tmpdir(), "edgelm-runner-tmp-"));
      this.giveToRunner(privateTmp);
      if (this.seccompFile && caps.seccompExec.path) {
        fds.push(openSync(this.seccompFile, "r"));
        const rules = this.landlockAbi() >= 1 ? this.landlockRules(request, caps.setpriv.path, privateTmp) : [];
        inner = [caps.seccompExec.path, String(request.firstFd), ...rules, "--", ...inner];
      }
      env.HOME = privateTmp;
      env.TMPDIR = privateTmp;
      env.PATH = request.env.PATH ?? "/usr/bin:/bin";
    }
    if (caps.prlimit.path) {
      const data = (request.memoryBytes ?? 0) + policy.memoryHeadroomBytes;
      inner = [caps.prlimit.path, "--core=0", `--data=${data}`, `--nofile=${policy.openFiles}`, `--nproc=${policy.processes}`, "--", ...inner];
    }
    const [command, ...args] = inner;
    return { command: command!, args, env, extraStdio: fds, protection, release: releaseAll };
  }

  /** The Landlock ABI runners get (0 when the loader is not used or the kernel has none). */
  private landlockAbi(): number {
    return this.seccompFile && this.caps.seccompExec.path && !this.caps.bwrap.path ? this.caps.landlock.abi : 0;
  }

  /** What bwrap would mount, as the loader's --read/--write paths (a runner without bwrap reaches nothing else). */
  private landlockRules(request: SandboxRequest, setpriv: string | undefined, privateTmp: string): string[] {
    const rules: string[] = [];
    const read = (path: string): void => void rules.push("--read", path);
    const write = (path: string): void => void rules.push("--write", path);
    for (const path of [...SYSTEM_BINDS, ...LANDLOCK_READ]) read(path);
    read("/proc");
    for (const path of LANDLOCK_DEVICES) write(path);
    for (const path of [request.command, ...(setpriv ? [setpriv] : []), ...request.programPaths]) {
      read(resolve(path));
      if (existsSync(path)) read(realpathSync(path));
    }
    for (const path of request.modelPaths) read(resolve(path));
    for (const dir of [...request.writableDirs, privateTmp]) write(resolve(dir));
    return rules;
  }

  private bwrapMounts(request: SandboxRequest, setpriv: string | undefined): string[] {
    const mounts: string[] = [];
    // bwrap would create missing parent folders 0700 (unreadable for the runner user): make them 0755 first.
    const made = new Set(["/", "/proc", "/dev", "/tmp"]);
    const bind = (how: string, source: string, target: string): void => {
      const parents: string[] = [];
      for (let dir = dirname(target); !made.has(dir); dir = dirname(dir)) parents.unshift(dir);
      for (const dir of parents) mounts.push("--perms", "0755", "--dir", dir), made.add(dir);
      mounts.push(how, source, target);
      made.add(target);
    };
    for (const path of SYSTEM_BINDS) if (existsSync(path)) bind("--ro-bind", path, path);
    mounts.push("--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64");
    mounts.push("--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", String(TMPFS_BYTES), "--tmpfs", "/tmp");
    const programs = [request.command, ...(setpriv ? [setpriv] : []), ...request.programPaths];
    for (const path of programs) bind("--ro-bind", realpathSync(path), resolve(path));
    // A missing model file is reported by the engine itself (file_not_found), as without the sandbox.
    for (const path of request.modelPaths) if (existsSync(path)) bind("--ro-bind", resolve(path), resolve(path));
    for (const dir of request.writableDirs) bind("--bind", dir, dir);
    const bound = [...programs, ...request.modelPaths, ...request.writableDirs].map((p) => resolve(p));
    for (const hidden of this.policy.hiddenPaths.map((p) => resolve(p))) {
      if (!bound.some((b) => hidden === b || hidden.startsWith(b + sep))) continue;
      if (!existsSync(hidden)) continue;
      mounts.push(...(statSync(hidden).isDirectory() ? ["--tmpfs", hidden] : ["--ro-bind", "/dev/null", hidden]));
    }
    return mounts;
  }

  /** Hands a folder and what is in it to the runner user (root only: the runner must create its socket there). */
  private giveToRunner(dir: string): void {
    if (!this.runAs) return;
    chownSync(dir, this.runAs.uid, this.runAs.gid);
    chmodSync(dir, 0o700);
    for (const name of readdirSync(dir)) chownSync(join(dir, name), this.runAs.uid, this.runAs.gid);
  }

  /** A model the runner user cannot read fails here, with what to change, instead of as an engine load error. */
  private checkReadable(path: string): void {
    if (!this.runAs) return;
    let stat;
    try {
      stat = statSync(path);
    } catch {
      return; // missing: the engine reports it
    }
    const { uid, gid, name } = this.runAs;
    const readable = stat.uid === uid ? stat.mode & 0o400 : stat.gid === gid ? stat.mode & 0o040 : stat.mode & 0o004;
    if (!readable) {
      throw new EdgeError(
        "sandbox_unavailable",
        `the runner user ${name} cannot read ${path} (owner uid ${stat.uid}, mode ${(stat.mode & 0o777).toString(8)}); make it readable (chmod o+r, or chgrp ${name} and chmod g+r) or set engine.sandbox.user`,
      );
    }
    if (!this.caps.bwrap.path) {
      // Without a mount namespace the runner reaches the file through the real folders above it.
      for (let dir = dirname(resolve(path)); dir !== dirname(dir); dir = dirname(dir)) {
        const d = statSync(dir);
        const searchable = d.uid === uid ? d.mode & 0o100 : d.gid === gid ? d.mode & 0o010 : d.mode & 0o001;
        if (!searchable) throw new EdgeError("sandbox_unavailable", `the runner user ${name} cannot reach ${path}: ${dir} is not searchable for it (mode ${(d.mode & 0o777).toString(8)})`);
      }
    }
  }
}

/** A summary of the protection, as one log line. */
export function describeProtection(protection: SandboxProtection): string {
  const missing = protection.missing.length > 0 ? `; not applied: ${protection.missing.join("; ")}` : "";
  return `${protection.applied.join("; ") || "none"}${missing}`;
}

function keptEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) if (KEPT_ENV.test(key)) kept[key] = value;
  return kept;
}

/** uid and gid of `name` (any NSS source, through getent). */
function lookupUser(name: string): { name: string; uid: number; gid: number } {
  const run = spawnSync("getent", ["passwd", name], { encoding: "utf8", timeout: 5000 });
  const fields = run.status === 0 ? `${run.stdout}`.trim().split(":") : [];
  if (fields.length < 4) {
    throw new EdgeError(
      "sandbox_unavailable",
      `the gateway runs as root and drops runners to engine.sandbox.user "${name}", which does not exist here; create it (systemd-sysusers deploy/systemd/edgelm.sysusers.conf, or useradd --system --no-create-home --shell /usr/sbin/nologin ${name}) or set engine.sandbox.user / EDGELM_SANDBOX_USER to an existing unprivileged user`,
    );
  }
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (uid === 0) throw new EdgeError("sandbox_unavailable", `engine.sandbox.user "${name}" is root (uid 0); runners must run as an unprivileged user`);
  return { name, uid, gid };
}
