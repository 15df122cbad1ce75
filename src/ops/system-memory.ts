/** This machine's memory as Linux reports it (/proc/meminfo), with a portable fallback. */
import { readFileSync } from "node:fs";
import { freemem, totalmem } from "node:os";

export interface SystemMemory {
  totalBytes: number;
  /** MemAvailable: what can be allocated without swapping (not just "free"). */
  availableBytes: number;
  source: "meminfo" | "os";
}

export function readSystemMemory(procRoot = "/proc"): SystemMemory {
  try {
    const text = readFileSync(`${procRoot}/meminfo`, "utf8");
    const field = (name: string): number | undefined => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
      return match ? Number(match[1]) * 1024 : undefined;
    };
    const total = field("MemTotal");
    const available = field("MemAvailable");
    if (total !== undefined && available !== undefined) return { totalBytes: total, availableBytes: available, source: "meminfo" };
  } catch {
    // not Linux: fall through
  }
  return { totalBytes: totalmem(), availableBytes: freemem(), source: "os" };
}
