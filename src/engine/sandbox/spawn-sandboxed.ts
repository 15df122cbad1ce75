/**
 * Starts a runner process: through the sandbox's plan when there is one, as a
 * plain child otherwise. The two spawn points (node-llama-cpp runner,
 * llama-server) call this instead of `spawn`.
 */
import { spawn, type ChildProcess, type IOType, type SpawnOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import type { RunnerSandbox, SandboxRequest } from "./runner-sandbox.js";

export interface SpawnRunnerOptions extends Omit<SpawnOptions, "stdio" | "env"> {
  /** The spawn point's own stdio (e.g. ["ignore", "pipe", "pipe", "ipc"]); the sandbox's fds follow it. */
  stdio: Array<IOType | "ipc">;
}

/**
 * Spawns `request.command` (confined by `sandbox` when given, with
 * `request.firstFd` = the length of `options.stdio`); what the plan holds open
 * is released once the process is gone.
 */
export function spawnRunner(sandbox: RunnerSandbox | undefined, request: Omit<SandboxRequest, "firstFd">, options: SpawnRunnerOptions): ChildProcess {
  if (!sandbox) return spawn(request.command, request.args, { ...options, env: request.env });
  const plan = sandbox.plan({ ...request, firstFd: options.stdio.length });
  let child: ChildProcess;
  try {
    child = spawn(plan.command, plan.args, { ...options, env: plan.env, stdio: [...options.stdio, ...plan.extraStdio] });
  } catch (error) {
    plan.release();
    throw error;
  }
  reportEngineExit(child);
  child.once("exit", () => plan.release());
  child.once("error", () => {
    if (child.pid === undefined) plan.release();
  });
  return child;
}

/**
 * bwrap, which the gateway spawned, exits with 128 + N when the engine inside
 * was killed by signal N: listeners of "exit"/"close" get the engine's signal
 * instead (a crash reads "killed by SIGSEGV", as without the sandbox).
 */
function reportEngineExit(child: ChildProcess): void {
  const emit = child.emit.bind(child);
  child.emit = (event: string | symbol, ...args: unknown[]): boolean => {
    if ((event === "exit" || event === "close") && typeof args[0] === "number" && args[0] > 128 && args[1] === null) {
      const signal = Object.entries(constants.signals).find(([, n]) => n === (args[0] as number) - 128)?.[0];
      if (signal) return emit(event, null, signal);
    }
    return emit(event, ...args);
  };
}

/**
 * What a Node entry point of this package needs read-only: the compiled code,
 * the dependencies and package.json (module type) of the package it lives in —
 * not the rest of the package folder (a ./edgelm.yaml there stays hidden).
 */
export function nodeProgramPaths(entryFile: string): string[] {
  let dir = dirname(entryFile);
  while (!existsSync(join(dir, "package.json")) && dir !== dirname(dir)) dir = dirname(dir);
  return [process.execPath, join(dir, "package.json"), join(dir, "dist"), join(dir, "node_modules")].filter((p) => existsSync(p));
}
