/**
 * The one lifecycle every runner backend shares: its state (starting → ready →
 * stopping → exited; a crash goes straight to exited), whether its exit was
 * asked for, the refusal of new work when it is not ready, and what happens
 * once its process is gone — in-flight work fails with the same error
 * (runner_crashed, or model_not_ready after a requested stop) and the exit
 * listeners run once. A backend owns its transport (IPC, HTTP) and hands the
 * lifecycle a callback that fails what it holds.
 *
 *   const lifecycle = new RunnerLifecycle(spec.name, (error) => failEverything(error));
 *   lifecycle.markReady();                       // loaded
 *   const refused = lifecycle.refusal(signal);   // before new work
 *   lifecycle.exit({ code, signal });            // the process is gone
 */
import { EdgeError, isEdgeError } from "../errors.js";
import type { RunnerExit, RunnerState } from "./runner.js";

/** How a process ended: its exit code, or the signal that killed it (both null: it never started). */
export interface ProcessEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** "killed by SIGKILL", "exit code 1", or "could not start". */
export function describeExit(exit: ProcessEnd): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  if (exit.code !== null) return `exit code ${exit.code}`;
  return "could not start";
}

/** The error a cancelled request ends with: the signal's EdgeError reason (timeout, shutting_down, ...), else `aborted`. */
export function abortError(signal: AbortSignal): EdgeError {
  return isEdgeError(signal.reason) ? signal.reason : new EdgeError("aborted", "the request was cancelled");
}

export class RunnerLifecycle {
  private current: RunnerState = "starting";
  private exitRecord: RunnerExit | undefined;
  private stopAsked = false;
  private killReason: string | undefined;
  private readonly listeners = new Set<(exit: RunnerExit) => void>();

  /**
   * @param modelName the served model's name, for error messages
   * @param failInFlight fails every request and call the backend holds with `error` (called once, at exit)
   */
  constructor(
    private readonly modelName: string,
    private readonly failInFlight: (error: EdgeError) => void,
  ) {}

  get state(): RunnerState {
    return this.current;
  }

  /** How the runner exited, once it has. */
  get exited(): RunnerExit | undefined {
    return this.exitRecord;
  }

  /** True once a stop was asked for (dispose, a failed start): the exit that follows is expected. */
  get stopRequested(): boolean {
    return this.stopAsked;
  }

  /** The model loaded: new work may start. */
  markReady(): void {
    if (!this.exitRecord) this.current = "ready";
  }

  /** The exit that follows is asked for; `stopping` also refuses new work from now on (dispose). */
  requestStop(options: { stopping?: boolean } = {}): void {
    this.stopAsked = true;
    if (options.stopping && !this.exitRecord) this.current = "stopping";
  }

  /**
   * The runner is being killed for `reason` (e.g. "stopped answering: no health
   * reply within 15000 ms"): in-flight work then fails saying so, not as a crash.
   */
  noteKill(reason: string): void {
    if (!this.exitRecord && !this.stopAsked) this.killReason = reason;
  }

  /** The error a request failed by a requested stop gets. */
  stoppedError(): EdgeError {
    return new EdgeError("model_not_ready", `the runner for ${this.modelName} was stopped`);
  }

  /** Why new work cannot start now (not ready, crashed, or `signal` already aborted), if it cannot. */
  refusal(runnerId: string, signal?: AbortSignal): EdgeError | undefined {
    if (this.current !== "ready") return this.exitRecord?.error ?? new EdgeError("model_not_ready", `runner ${runnerId} is ${this.current}`);
    return signal?.aborted ? abortError(signal) : undefined;
  }

  /** Calls `listener` once when the runner exits (at once, in a microtask, if it already has). Returns an unsubscribe function. */
  onExit(listener: (exit: RunnerExit) => void): () => void {
    const exited = this.exitRecord;
    if (exited) {
      queueMicrotask(() => listener(exited));
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The process is gone: records the exit (expected when a stop was asked for),
   * fails everything in flight, and runs the exit listeners. Later calls return
   * the first record and do nothing else.
   */
  exit(end: ProcessEnd): RunnerExit {
    if (this.exitRecord) return this.exitRecord;
    const expected = this.stopAsked;
    const error = expected
      ? this.stoppedError()
      : this.killReason !== undefined
        ? new EdgeError("runner_crashed", `the runner for model ${this.modelName} ${this.killReason} and was killed; the request was not completed`, {
            details: { reason: "unresponsive" },
          })
        : new EdgeError("runner_crashed", `the runner for model ${this.modelName} stopped unexpectedly (${describeExit(end)}); the request was not completed`);
    const record: RunnerExit = { expected, code: end.code, signal: end.signal, ...(expected ? {} : { error }) };
    this.exitRecord = record;
    this.current = "exited";
    this.failInFlight(error);
    for (const listener of this.listeners) listener(record);
    this.listeners.clear();
    return record;
  }
}
