/**
 * The runner's seccomp filter: deploy/seccomp/edgelm-runner.json (the
 * podman/docker profile format, the one source of truth) compiled to a classic
 * BPF program for this CPU, the form bubblewrap's `--seccomp FD` loads.
 *
 * The program: a foreign architecture (or x32 ABI) kills the process; an
 * allowed call returns ALLOW; a call allowed only with given arguments
 * (socket with AF_UNIX, clone without namespace flags) is checked on them; everything else fails with the
 * profile's errno (EPERM), which the engine reports like any failed call.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SYSCALL_NUMBERS } from "./syscall-numbers.js";

/** The shipped profile. */
export const SECCOMP_PROFILE_PATH = fileURLToPath(new URL("../../../../deploy/seccomp/edgelm-runner.json", import.meta.url));

export interface SeccompRule {
  names: string[];
  action: string;
  /** SCMP_CMP_EQ: arg == value; SCMP_CMP_MASKED_EQ: (arg & value) == valueTwo (low 32 bits). */
  args?: Array<{ index: number; value: number; valueTwo?: number; op: string }>;
  errnoRet?: number;
}

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls: SeccompRule[];
}

/** AUDIT_ARCH_* values (linux/audit.h) by Node's process.arch. */
const AUDIT_ARCH: Record<string, number> = { x64: 0xc000003e, arm64: 0xc00000b7 };

// Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const AND_K = 0x54;
const RET_K = 0x06;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
const RET_ALLOW = 0x7fff0000;
/** offsetof(struct seccomp_data, nr / arch / args[i]); the low 32 bits of an argument on a little-endian CPU. */
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const offsetArg = (index: number): number => 16 + 8 * index;
const X32_SYSCALL_BIT = 0x40000000;
const EPERM = 1;

interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** Reads and checks the shipped profile. */
export function readSeccompProfile(path = SECCOMP_PROFILE_PATH): SeccompProfile {
  const profile = JSON.parse(readFileSync(path, "utf8")) as SeccompProfile;
  if (!Array.isArray(profile.syscalls) || typeof profile.defaultAction !== "string") throw new Error(`${path} is not a seccomp profile`);
  return profile;
}

/**
 * Compiles `profile` for `arch` (Node's process.arch names) into the bytes of a
 * `struct sock_filter[]`. Names this architecture does not have are skipped
 * (as runc and podman do). Supports ALLOW and ERRNO actions and SCMP_CMP_EQ
 * argument checks on the low 32 bits; anything else is an error.
 */
export function compileSeccomp(profile: SeccompProfile, arch: string = process.arch): Buffer {
  const numbers = SYSCALL_NUMBERS[arch];
  const auditArch = AUDIT_ARCH[arch];
  if (!numbers || auditArch === undefined) throw new Error(`no seccomp support for CPU architecture ${arch}`);
  const errno = (rule?: { errnoRet?: number }): number => RET_ERRNO | ((rule?.errnoRet ?? profile.defaultErrnoRet ?? EPERM) & 0xffff);
  const defaultRet = profile.defaultAction === "SCMP_ACT_ERRNO" ? errno() : profile.defaultAction === "SCMP_ACT_KILL_PROCESS" ? RET_KILL_PROCESS : undefined;
  if (defaultRet === undefined) throw new Error(`unsupported defaultAction ${profile.defaultAction}`);

  const program: Instruction[] = [
    { code: LD_W_ABS, jt: 0, jf: 0, k: OFFSET_ARCH },
    { code: JEQ_K, jt: 1, jf: 0, k: auditArch },
    { code: RET_K, jt: 0, jf: 0, k: RET_KILL_PROCESS },
    { code: LD_W_ABS, jt: 0, jf: 0, k: OFFSET_NR },
  ];
  if (arch === "x64") program.push({ code: JGE_K, jt: 0, jf: 1, k: X32_SYSCALL_BIT }, { code: RET_K, jt: 0, jf: 0, k: defaultRet });
  for (const rule of profile.syscalls) {
    const ret = rule.action === "SCMP_ACT_ALLOW" ? RET_ALLOW : rule.action === "SCMP_ACT_ERRNO" ? errno(rule) : undefined;
    if (ret === undefined) throw new Error(`unsupported action ${rule.action}`);
    for (const name of rule.names) {
      const nr = numbers[name];
      if (nr === undefined) continue;
      const checks = rule.args ?? [];
      for (const check of checks) {
        const known = check.op === "SCMP_CMP_EQ" || check.op === "SCMP_CMP_MASKED_EQ";
        if (!known || check.index < 0 || check.index > 5) throw new Error(`unsupported argument check ${JSON.stringify(check)}`);
      }
      // if (nr == N) { [load each arg, (mask it), compare]; return ret } — nr is reloaded after a failed check.
      const body: Instruction[] = [];
      const steps = checks.map((check) => (check.op === "SCMP_CMP_MASKED_EQ" ? 3 : 2));
      checks.forEach((check, i) => {
        body.push({ code: LD_W_ABS, jt: 0, jf: 0, k: offsetArg(check.index) });
        if (check.op === "SCMP_CMP_MASKED_EQ") body.push({ code: AND_K, jt: 0, jf: 0, k: check.value >>> 0 });
        // On mismatch jump past the remaining checks and the return, to the reload of nr.
        const rest = steps.slice(i + 1).reduce((a, b) => a + b, 0);
        body.push({ code: JEQ_K, jt: 0, jf: rest + 1, k: (check.op === "SCMP_CMP_MASKED_EQ" ? check.valueTwo ?? 0 : check.value) >>> 0 });
      });
      body.push({ code: RET_K, jt: 0, jf: 0, k: ret });
      if (checks.length > 0) body.push({ code: LD_W_ABS, jt: 0, jf: 0, k: OFFSET_NR });
      program.push({ code: JEQ_K, jt: 0, jf: body.length, k: nr }, ...body);
    }
  }
  program.push({ code: RET_K, jt: 0, jf: 0, k: defaultRet });
  if (program.length > 4096) throw new Error(`seccomp program too long (${program.length} instructions)`);
  const bytes = Buffer.alloc(program.length * 8);
  program.forEach((ins, i) => {
    bytes.writeUInt16LE(ins.code, i * 8);
    bytes.writeUInt8(ins.jt, i * 8 + 2);
    bytes.writeUInt8(ins.jf, i * 8 + 3);
    bytes.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return bytes;
}

let compiled: { path: string } | { reason: string } | undefined;

/**
 * The shipped profile compiled for this CPU, written once per process to a
 * 0600 file under the temp dir (bwrap reads it from an fd); or why not.
 */
export function compiledSeccompProgram(): { path: string } | { reason: string } {
  if (compiled) return compiled;
  try {
    const program = compileSeccomp(readSeccompProfile());
    // A fresh 0700 folder (never a predictable shared path another user could plant a program in).
    const dir = mkdtempSync(join(tmpdir(), "edgelm-seccomp-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "edgelm-runner.bpf");
    writeFileSync(path, program, { mode: 0o600 });
    compiled = { path };
  } catch (error) {
    compiled = { reason: `the profile ${SECCOMP_PROFILE_PATH} cannot be used: ${(error as Error).message}` };
  }
  return compiled;
}
