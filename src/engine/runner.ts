/**
 * The runner contract: a loaded model living in its own process, seen from the
 * gateway. A Runner is a LoadedModel (generate, embed, tokenize, info, dispose)
 * plus what a supervisor needs: start, health, and an exit notification.
 * Implementations: the node-llama-cpp child process (runners/child-process-runner.ts)
 * and llama.cpp's own server (llama-server/llama-server-runner.ts). One contract
 * test suite runs against each.
 */
import type { EdgeError } from "../errors.js";
import type { LoadedModel, LoadOptions, ModelInfo } from "./types.js";

/** starting → ready → stopping → exited; a crash goes straight to exited. */
export type RunnerState = "starting" | "ready" | "stopping" | "exited";

/** What a runner needs to load: a file the gateway has already resolved and verified. */
export interface RunnerSpec extends Omit<LoadOptions, "signal"> {
  /** The served model's name (logs, runner ids). */
  name: string;
  /** Log threshold inside the runner process. Default "warn". */
  logLevel?: "error" | "warn" | "info" | "debug";
  /** node-llama-cpp's GPU choice (config `engine.gpu`). Default false. */
  gpu?: "auto" | false;
}

export interface RunnerExit {
  /** True when the exit was asked for (dispose); false for a crash, a kill or an OOM. */
  expected: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The error in-flight requests were failed with (runner_crashed), when the exit was unexpected. */
  error?: EdgeError;
}

export interface RunnerHealth {
  ok: boolean;
  /** Round trip of the health call in milliseconds (IPC or HTTP latency). */
  latencyMs: number;
  /** Sequences generating inside the runner. */
  activeSequences: number;
  /** Resident memory of the runner process in bytes (0 when unknown). */
  rssBytes: number;
  uptimeMs: number;
  /** Transport counters: messages sent to the gateway and the events they carried (batching factor = events / messages). */
  messagesSent: number;
  eventsSent: number;
  /** The runner's compiled-grammar cache (node-llama-cpp runners; llama-server compiles per request and keeps none). */
  grammarCache?: { entries: number; bytes: number; evictions: number };
}

/** Counters since the runner started, and what its warm prefixes hold now. */
export interface PrefixCacheFigures {
  /** Generations that reused at least half of their prompt tokens from a slot's cache. */
  hits: number;
  /** Generations that reused less (a new prefix, or a slot holding something else). */
  misses: number;
  /** Prompt tokens taken from a slot's cache, not evaluated. */
  promptTokensReused: number;
  /** Prompt tokens evaluated. */
  promptTokensEvaluated: number;
  /** Warm prefixes placed in the slots. */
  warmPrefixes: number;
  /** Of those, the ones restored from a saved state (not evaluated) at start. */
  warmPrefixesRestored: number;
  /** Bytes of KV state the warm prefixes hold in the slots (every slot's copy). */
  warmPrefixBytes: number;
}

export interface Runner extends LoadedModel {
  /** Unique within the process, e.g. "stories#2". */
  readonly id: string;
  /** Prompt-prefix reuse in the runner's slots, read without a call (llama-server runners; see llama-server/slot-prefixes.ts). */
  prefixCacheFigures?(): PrefixCacheFigures;
  /** Which engine runs inside (node-llama-cpp, llama-server). */
  readonly backend: string;
  readonly state: RunnerState;
  /** OS process id once started. */
  readonly pid: number | undefined;
  /**
   * Starts the process and loads the model. Resolves with the model's info once it
   * can generate; rejects (and leaves the runner exited) when loading fails.
   */
  start(): Promise<ModelInfo>;
  /** Asks the runner how it is; rejects when it does not answer within `timeoutMs` (default 5000). */
  health(timeoutMs?: number): Promise<RunnerHealth>;
  /** Calls `listener` once when the process ends for any reason. Returns an unsubscribe function. */
  onExit(listener: (exit: RunnerExit) => void): () => void;
  /**
   * Sends a signal to the process (tests, hung runners). With `reason` (a runner
   * that stopped answering), the work it held fails saying so.
   */
  kill(signal?: NodeJS.Signals, reason?: string): void;
  /**
   * The engine's own Prometheus exposition, when it has one (llama-server's
   * `/metrics`: tokens, slots, KV cache), for the metrics layer to re-export
   * under edgelm's names. Absent on node-llama-cpp runners.
   */
  metricsText?(timeoutMs?: number): Promise<string>;
}

/** Makes runners of one kind; the gateway holds one per backend. */
export interface RunnerFactory {
  readonly backend: string;
  create(spec: RunnerSpec): Runner;
}
