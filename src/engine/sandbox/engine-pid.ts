/**
 * The pid of the engine itself inside a sandboxed runner. bubblewrap stays
 * between the gateway and the engine (its monitor and the namespace's init),
 * so the pid the gateway spawned is bwrap's; memory and CPU readings, `/api/ps`
 * and tests that kill a runner want the engine's. Plain (unsandboxed) runners
 * are returned as they are.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

const resolved = new WeakMap<ChildProcess, number>();

/**
 * The engine pid of a runner process: found once the engine is running, then
 * remembered, so it stays the same after the engine died (until the runner is
 * replaced); the spawned pid while the sandbox is still starting.
 */
export function runnerPid(child: ChildProcess | undefined, procRoot = "/proc"): number | undefined {
  if (!child?.pid) return undefined;
  const known = resolved.get(child);
  if (known !== undefined) return known;
  const inner = innerPid(child.pid, procRoot);
  if (inner !== undefined) resolved.set(child, inner);
  return inner ?? child.pid;
}

/** Follows `pid` through bwrap processes (its monitor, then its init) to their child; undefined when `pid` is no bwrap or has no child yet. */
function innerPid(pid: number, procRoot: string): number | undefined {
  let current = pid;
  for (let depth = 0; depth < 3; depth++) {
    if (read(`${procRoot}/${current}/comm`)?.trim() !== "bwrap") return depth > 0 ? current : undefined;
    const child = Number(read(`${procRoot}/${current}/task/${current}/children`)?.trim().split(/\s+/)[0]);
    if (!Number.isInteger(child) || child <= 0) return undefined; // not started yet, or already gone
    current = child;
  }
  return undefined;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
