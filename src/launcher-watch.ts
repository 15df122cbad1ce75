/**
 * A long-running command started through npm (`npx edgelm serve`, `npm start`)
 * runs as npm → `sh -c '…'` → node. Killing npm (`kill $!` after `npx … &`)
 * kills npm and, at most, the shell: node is left running as an orphan,
 * holding its port. The launcher watch notices when the processes that
 * started us are gone and calls back, so the command can shut down the way it
 * does on SIGTERM.
 *
 * Which processes: only when npm launched us (npm's run-script sets
 * `npm_lifecycle_event`; these variables come from the launcher, not from
 * edgelm's configuration) — the parent (npm's shell) and its parent (npm).
 * A command started any other way (systemd, a container, `nohup edgelm serve &`)
 * is not watched: outliving its parent is what those ask for.
 *
 * A process counts as gone when it no longer exists, is a zombie, or its pid
 * now belongs to another process (its start time in /proc changed).
 */
import { readFileSync } from "node:fs";
import { processAlive } from "./process-alive.js";

/** One watched process: its pid and what identifies that very process (start time in clock ticks, when /proc has it). */
export interface WatchedProcess {
  pid: number;
  startTime: string | undefined;
}

interface ProcStat {
  state: string;
  ppid: number;
  startTime: string;
}

/** Parses /proc/<pid>/stat (the command name may hold spaces and parentheses: fields start after the last ')'). */
function readProcStat(pid: number, procRoot = "/proc"): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // After the name: state(3) ppid(4) … starttime(22), numbered from 1 as in proc(5).
  const state = fields[0];
  const ppid = Number(fields[1]);
  const startTime = fields[19];
  if (state === undefined || !Number.isInteger(ppid) || startTime === undefined) return undefined;
  return { state, ppid, startTime };
}

function identify(pid: number): WatchedProcess {
  return { pid, startTime: readProcStat(pid)?.startTime };
}

/** True while `watched` is the same process it was and has not exited. */
export function stillRunning(watched: WatchedProcess): boolean {
  if (watched.startTime === undefined) return processAlive(watched.pid);
  const now = readProcStat(watched.pid);
  return now !== undefined && now.state !== "Z" && now.state !== "X" && now.startTime === watched.startTime;
}

/**
 * The processes to follow: npm's shell and npm itself when npm launched this
 * process (`npm_lifecycle_event` in `env`), none otherwise. Init (pid 1) and
 * the kernel (0) are never watched.
 */
export function launcherProcesses(env: NodeJS.ProcessEnv, ppid = process.ppid): WatchedProcess[] {
  if (env.npm_lifecycle_event === undefined) return [];
  const chain: number[] = [ppid];
  const grandparent = readProcStat(ppid)?.ppid;
  if (grandparent !== undefined) chain.push(grandparent);
  return chain.filter((pid) => pid > 1).map(identify);
}

export interface LauncherWatchOptions {
  /** How often to look, in ms. Default 500. */
  intervalMs?: number;
}

/**
 * Calls `onGone` once with the first watched process found gone (checked
 * every `intervalMs`; the timer does not keep the event loop alive). Returns
 * a function that stops watching. Watching nothing never calls back.
 */
export function watchLauncher(watched: readonly WatchedProcess[], onGone: (gone: WatchedProcess) => void, options: LauncherWatchOptions = {}): () => void {
  if (watched.length === 0) return () => {};
  const timer = setInterval(() => {
    const gone = watched.find((p) => !stillRunning(p));
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(gone);
  }, options.intervalMs ?? 500);
  timer.unref();
  return () => clearInterval(timer);
}
