/** Running a build or training tool as a child process, its output read line by line. */
import { spawn } from "node:child_process";
import { EdgeError } from "../errors.js";

export interface CommandOutputOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Each non-blank line of the command's output (stdout and stderr, split at \n, \r\n or \r). */
  onLine?: (line: string) => void;
  /** Stops the command (SIGTERM); the promise then rejects with `aborted`. */
  signal?: AbortSignal;
  /** How many of the last lines to keep for an error message (default 20). */
  keepLines?: number;
  /** Names the command in errors (default: the command). */
  what?: string;
}

export interface CommandExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last non-blank lines it printed, oldest first. */
  tail: string[];
}

/**
 * Runs a command without a shell and resolves with how it ended, whatever the exit code; rejects only when it
 * cannot start (`internal`) or was cancelled through `signal` (`aborted`). A line still unterminated at the end
 * is delivered too.
 */
export function runCommandOutput(command: string, args: readonly string[], options: CommandOutputOptions = {}): Promise<CommandExit> {
  const what = options.what ?? command;
  const keep = options.keepLines ?? 20;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    let partial = "";
    const onLine = (line: string): void => {
      if (!line.trim()) return;
      tail.push(line);
      if (tail.length > keep) tail.shift();
      options.onLine?.(line);
    };
    const onData = (data: Buffer): void => {
      const lines = (partial + data.toString("utf8")).split(/\r\n|\r|\n/);
      partial = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const onAbort = (): void => {
      child.kill("SIGTERM");
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (error) => {
      options.signal?.removeEventListener("abort", onAbort);
      reject(new EdgeError("internal", `cannot run ${what}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      options.signal?.removeEventListener("abort", onAbort);
      if (partial) onLine(partial);
      if (options.signal?.aborted) return reject(new EdgeError("aborted", `${what} was cancelled`));
      resolve({ code, signal, tail });
    });
  });
}
