/**
 * This machine's memory as Linux reports it (/proc/meminfo), capped by this
 * process's cgroup memory limit when one is set (a container's `--memory`, a
 * unit's `MemoryMax=`), with a portable fallback.
 */
import { readFileSync } from "node:fs";
import { freemem, totalmem } from "node:os";
import { readCgroupMemory } from "./cgroup-memory.js";

export interface SystemMemory {
  /** MemTotal, or the cgroup limit when that is smaller; bytes. */
  totalBytes: number;
  /** MemAvailable (what can be allocated without swapping, not just "free"), or what is left under the cgroup limit when that is smaller; bytes. */
  availableBytes: number;
  /** Where the figures come from: the host's meminfo, a cgroup limit, or Node's os module. */
  source: "meminfo" | "cgroup-v1" | "cgroup-v2" | "os";
  /** The cgroup memory limit in bytes, when one is set. */
  limitBytes?: number;
}

/**
 * @param procRoot where /proc is; default "/proc"
 * @param cgroupRoot where the cgroup file systems are mounted; default "/sys/fs/cgroup"
 */
export function readSystemMemory(procRoot = "/proc", cgroupRoot = "/sys/fs/cgroup"): SystemMemory {
  let host: SystemMemory = { totalBytes: totalmem(), availableBytes: freemem(), source: "os" };
  try {
    const text = readFileSync(`${procRoot}/meminfo`, "utf8");
    const field = (name: string): number | undefined => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
      return match ? Number(match[1]) * 1024 : undefined;
    };
    const total = field("MemTotal");
    const available = field("MemAvailable");
    if (total !== undefined && available !== undefined) host = { totalBytes: total, availableBytes: available, source: "meminfo" };
  } catch {
    // not Linux: keep os
  }
  const cgroup = readCgroupMemory(procRoot, cgroupRoot);
  if (!cgroup || cgroup.limitBytes >= host.totalBytes) return host;
  return {
    totalBytes: cgroup.limitBytes,
    availableBytes: Math.min(host.availableBytes, Math.max(0, cgroup.limitBytes - cgroup.workingSetBytes)),
    source: cgroup.version === 2 ? "cgroup-v2" : "cgroup-v1",
    limitBytes: cgroup.limitBytes,
  };
}
