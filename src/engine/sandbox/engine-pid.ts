/**
 * The pid of the engine itself inside a sandboxed runner. bubblewrap stays
 * between the gateway and the engine (its monitor and the namespace's init),
 * so the pid the gateway spawned is bwrap's; memory and CPU readings and
 * `/api/ps` want the engine's. Plain (unsandboxed) runners are returned as is.
 */
import { readFileSync } from "node:fs";

/** Follows `pid` through bwrap processes (at most two levels) to the engine process; `pid` when it is no bwrap. */
export function enginePid(pid: number | undefined, procRoot = "/proc"): number | undefined {
  let current = pid;
  for (let depth = 0; current !== undefined && depth < 3; depth++) {
    if (read(`${procRoot}/${current}/comm`)?.trim() !== "bwrap") return current;
    const child = Number(read(`${procRoot}/${current}/task/${current}/children`)?.trim().split(/\s+/)[0]);
    if (!Number.isInteger(child) || child <= 0) return current; // not started yet, or already gone
    current = child;
  }
  return current;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
