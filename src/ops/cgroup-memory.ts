/**
 * The memory limit of the cgroup this process runs in — what a container's
 * `--memory` or a unit's `MemoryMax=` sets — so that memory planning uses the
 * cap, not the host's RAM. Reads cgroup v2 (`memory.max`, the smallest along
 * the path up to the root) or v1 (`memory.limit_in_bytes` and the hierarchical
 * limit in `memory.stat`).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { readProcFile } from "./read-proc-file.js";

export interface CgroupMemory {
  version: 1 | 2;
  /** The cgroup's path as /proc/self/cgroup names it. */
  path: string;
  /** The memory limit in bytes. */
  limitBytes: number;
  /** What the cgroup is charged now (anonymous memory plus page cache), bytes. */
  usageBytes: number;
  /** Usage less the page cache the kernel can drop first (inactive_file), as `docker stats` counts it; bytes. */
  workingSetBytes: number;
}

/** Limits at or above this (2^60 bytes) mean "no limit" (v1 writes 2^63 − 4096 there). */
const UNLIMITED = 2 ** 60;

function readNumber(file: string): number | undefined {
  const text = readProcFile(file)?.trim();
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

function statField(dir: string, name: string): number | undefined {
  const match = new RegExp(`^${name} (\\d+)$`, "m").exec(readProcFile(join(dir, "memory.stat")) ?? "");
  return match ? Number(match[1]) : undefined;
}

/** The cgroup's folder: its own path when it is visible, else the mount root (a container's namespaced view). */
function cgroupDirectory(mount: string, path: string): string {
  const own = join(mount, path);
  return existsSync(own) ? own : mount;
}

/**
 * This process's cgroup memory limit, or undefined when none is set (or no
 * cgroup memory controller is mounted).
 * @param procRoot where /proc is (tests point it elsewhere); default "/proc"
 * @param cgroupRoot where the cgroup file systems are mounted; default "/sys/fs/cgroup"
 */
export function readCgroupMemory(procRoot = "/proc", cgroupRoot = "/sys/fs/cgroup"): CgroupMemory | undefined {
  const membership = readProcFile(`${procRoot}/self/cgroup`);
  if (!membership) return undefined;
  const lines = membership.split("\n").map((line) => line.split(":"));
  const v1 = lines.find((parts) => parts.length >= 3 && parts[1]!.split(",").includes("memory"));
  if (v1 && existsSync(join(cgroupRoot, "memory", "memory.limit_in_bytes"))) {
    const path = v1.slice(2).join(":");
    const dir = cgroupDirectory(join(cgroupRoot, "memory"), path);
    const limits = [readNumber(join(dir, "memory.limit_in_bytes")), statField(dir, "hierarchical_memory_limit")].filter((n): n is number => n !== undefined);
    const limit = Math.min(...limits);
    if (!(limit < UNLIMITED)) return undefined;
    const usage = readNumber(join(dir, "memory.usage_in_bytes")) ?? 0;
    const inactive = statField(dir, "total_inactive_file") ?? 0;
    return { version: 1, path, limitBytes: limit, usageBytes: usage, workingSetBytes: Math.max(0, usage - inactive) };
  }
  const v2 = lines.find((parts) => parts[0] === "0" && parts[1] === "");
  if (v2 && existsSync(join(cgroupRoot, "cgroup.controllers"))) {
    const path = v2.slice(2).join(":");
    const dir = cgroupDirectory(cgroupRoot, path);
    let limit = Infinity;
    // The effective limit is the smallest memory.max from this cgroup up to the root.
    for (let at = dir; at.startsWith(cgroupRoot); at = dirname(at)) {
      const text = readProcFile(join(at, "memory.max"))?.trim();
      if (text !== undefined && /^\d+$/.test(text)) limit = Math.min(limit, Number(text));
      if (at === cgroupRoot) break;
    }
    if (!(limit < UNLIMITED)) return undefined;
    const usage = readNumber(join(dir, "memory.current")) ?? 0;
    const inactive = statField(dir, "inactive_file") ?? 0;
    return { version: 2, path, limitBytes: limit, usageBytes: usage, workingSetBytes: Math.max(0, usage - inactive) };
  }
  return undefined;
}
