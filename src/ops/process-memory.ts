/** Resident memory of a process from /proc/<pid>/status (what it holds in RAM now). */
import { readProcFile } from "./read-proc-file.js";

/** VmRSS in bytes, or undefined when the process is gone or the kernel does not say. */
export function readProcessRss(pid: number, procRoot = "/proc"): number | undefined {
  const text = readProcFile(`${procRoot}/${pid}/status`);
  if (text === undefined) return undefined;
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(text);
  return match ? Number(match[1]) * 1024 : undefined;
}
