/** Resident memory of a process from /proc/<pid>/status (what it holds in RAM now). */
import { readFileSync } from "node:fs";

/** VmRSS in bytes, or undefined when the process is gone or the kernel does not say. */
export function readProcessRss(pid: number, procRoot = "/proc"): number | undefined {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(text);
  return match ? Number(match[1]) * 1024 : undefined;
}
