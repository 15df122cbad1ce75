/** The sandbox the tests run runners in: the shipped defaults, as `engine.sandbox` gives them. */
import assert from "node:assert/strict";
import { readFileSync, readlinkSync } from "node:fs";
import { RunnerSandbox, type SandboxPolicy } from "../../../src/engine/sandbox/runner-sandbox.js";

/** The user runners drop to when the tests run as root (.ci/run creates it from deploy/systemd/edgelm.sysusers.conf). */
export const TEST_SANDBOX_USER = process.env.EDGELM_TEST_SANDBOX_USER ?? "edgelm";

export function testSandboxPolicy(overrides: Partial<SandboxPolicy> = {}): SandboxPolicy {
  return { mode: "required", user: TEST_SANDBOX_USER, memoryHeadroomBytes: 512 * 2 ** 20, openFiles: 1024, processes: 1024, hiddenPaths: [], ...overrides };
}

/** A sandbox that refuses to exist without every protection (mode required), so a test cannot pass unconfined. */
export function testSandbox(overrides: Partial<SandboxPolicy> = {}): RunnerSandbox {
  return RunnerSandbox.create(testSandboxPolicy(overrides));
}

/** Checks from /proc that process `pid` runs confined: not root (when we are), no_new_privs, seccomp filter, limits, own network namespace. */
export function assertConfined(pid: number | undefined): void {
  assert.ok(pid, "the runner has a pid");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): string => new RegExp(`^${name}:\\s+(\\S+)`, "m").exec(status)?.[1] ?? "";
  if (process.getuid?.() === 0) assert.notEqual(field("Uid"), "0", "the runner dropped root");
  assert.equal(field("NoNewPrivs"), "1");
  assert.equal(field("Seccomp"), "2", "a seccomp filter is loaded");
  assert.equal(field("CapEff"), "0000000000000000");
  const limits = readFileSync(`/proc/${pid}/limits`, "utf8");
  assert.match(limits, /^Max core file size\s+0\s+0/m);
  assert.match(limits, /^Max open files\s+1024\s+1024/m);
  assert.notEqual(readlinkSync(`/proc/${pid}/ns/net`), readlinkSync("/proc/self/ns/net"), "own network namespace");
  assert.notEqual(readlinkSync(`/proc/${pid}/ns/mnt`), readlinkSync("/proc/self/ns/mnt"), "own mount namespace");
}
