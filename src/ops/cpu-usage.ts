/**
 * CPU utilisation from cumulative counters: the whole machine from /proc/stat,
 * one process from /proc/<pid>/stat, and this process from process.cpuUsage().
 * A utilisation is the busy share between two readings; one reading says nothing.
 */
import { readProcFile } from "./read-proc-file.js";

/** Linux exposes process times in USER_HZ ticks, 100 per second on every architecture. */
const USER_HZ = 100;

/** Cumulative busy and total CPU time of the machine, in seconds summed over all cores. */
export interface CpuTimes {
  busySeconds: number;
  totalSeconds: number;
}

/** The aggregate "cpu" line of /proc/stat, or undefined when it cannot be read (not Linux). */
export function readSystemCpuTimes(procRoot = "/proc"): CpuTimes | undefined {
  const text = readProcFile(`${procRoot}/stat`);
  if (text === undefined) return undefined;
  const line = /^cpu\s+([\d\s]+)$/m.exec(text);
  if (!line) return undefined;
  // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already inside user/nice.
  const fields = line[1]!.trim().split(/\s+/).map(Number).slice(0, 8);
  if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) return undefined;
  const total = fields.reduce((sum, n) => sum + n, 0);
  const idle = fields[3]! + (fields[4] ?? 0);
  return { busySeconds: (total - idle) / USER_HZ, totalSeconds: total / USER_HZ };
}

/** Busy share (0–1) of all cores between two readings; undefined when no time passed. */
export function cpuUtilizationBetween(before: CpuTimes, after: CpuTimes): number | undefined {
  const total = after.totalSeconds - before.totalSeconds;
  if (total <= 0) return undefined;
  return clampRatio((after.busySeconds - before.busySeconds) / total);
}

/** User + system CPU seconds a process has used (/proc/<pid>/stat), or undefined when it is gone. */
export function readProcessCpuSeconds(pid: number, procRoot = "/proc"): number | undefined {
  const text = readProcFile(`${procRoot}/${pid}/stat`);
  if (text === undefined) return undefined;
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // After the name, field 3 (state) is rest[0]; utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / USER_HZ;
}

/** CPU seconds this process has used (user + system). */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

export function clampRatio(value: number): number {
  return Math.min(1, Math.max(0, value));
}
