/**
 * Linux pressure stall information for memory (/proc/pressure/memory): the
 * share of time tasks stalled waiting for memory. A different signal from
 * "memory used": a box can be 95% used and not stall, or stall while reclaiming
 * page cache at 70%. Absent on kernels without PSI (or with it disabled).
 */
import { readProcFile } from "./read-proc-file.js";

/** Stall shares (0–1) averaged over 10, 60 and 300 seconds, and the total stall time in seconds. */
export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  totalSeconds: number;
}

export interface MemoryPressure {
  /** Some task stalled on memory. */
  some: PressureLine;
  /** All non-idle tasks stalled at once (absent on old kernels). */
  full: PressureLine | undefined;
}

function parseLine(text: string, kind: "some" | "full"): PressureLine | undefined {
  const match = new RegExp(`^${kind} avg10=([\\d.]+) avg60=([\\d.]+) avg300=([\\d.]+) total=(\\d+)$`, "m").exec(text);
  if (!match) return undefined;
  return {
    avg10: Number(match[1]) / 100,
    avg60: Number(match[2]) / 100,
    avg300: Number(match[3]) / 100,
    totalSeconds: Number(match[4]) / 1e6,
  };
}

/** Memory pressure, or undefined when the kernel does not report it. */
export function readMemoryPressure(procRoot = "/proc"): MemoryPressure | undefined {
  const text = readProcFile(`${procRoot}/pressure/memory`);
  if (text === undefined) return undefined;
  const some = parseLine(text, "some");
  return some ? { some, full: parseLine(text, "full") } : undefined;
}
