/**
 * A node-llama-cpp runner in a child process, seen from the gateway. It forks
 * node-runner-main.js, loads the model there, and turns the IPC batches back
 * into TokenStreams. When the process dies, every request it held fails with
 * runner_crashed and the exit listeners run (the model pool restarts it).
 *
 * (Over 350 lines: it is the gateway's whole side of one IPC protocol — load,
 * generate, embed, tokenize, health, cancel and their replies — so each message
 * type's sender sits next to its reply handling; the lifecycle is
 * runner-lifecycle.ts, the wire format runner-protocol.ts.)
 */
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { EdgeError, type SerializedEdgeError } from "../../errors.js";
import { logger, type LogLevel } from "../../log.js";
import type { Runner, RunnerExit, RunnerFactory, RunnerHealth, RunnerSpec, RunnerState } from "../runner.js";
import { adapterSequences, DEFAULT_ADAPTER_CONTEXTS } from "../node-llama-cpp-adapter-contexts.js";
import { abortError, describeExit, RunnerLifecycle } from "../runner-lifecycle.js";
import { runnerPid } from "../sandbox/engine-pid.js";
import { modelMemoryBudget } from "../sandbox/model-memory-budget.js";
import type { RunnerSandbox } from "../sandbox/runner-sandbox.js";
import { nodeProgramPaths, spawnRunner } from "../sandbox/spawn-sandboxed.js";
import { PushTokenStream } from "../token-stream.js";
import type { ChatMessage, EmbeddingResult, EmbedOptions, GenerateRequest, ModelInfo, TokenStream } from "../types.js";
import { runnerMessageRefusal } from "./runner-message-budget.js";
import type { FromRunner, RunnerBuild, RunnerCall, RunnerEvent, RunnerHealthReply, ToRunner } from "./runner-protocol.js";

const RUNNER_MAIN = fileURLToPath(new URL("./node-runner-main.js", import.meta.url));

/** How long a cancelled stream waits for the runner to confirm before it ends without it, in ms. */
const CANCEL_GRACE_MS = 1000;

export interface ChildProcessRunnerOptions {
  /** How long loading may take before the runner is killed, in ms. Default 120000. */
  startTimeoutMs?: number;
  /** How long a runner gets to exit after being asked to, in ms, before SIGKILL. Default 5000. */
  stopTimeoutMs?: number;
  /** Confines the runner process (src/engine/sandbox); absent: a plain child process. */
  sandbox?: RunnerSandbox;
  /** The node-llama-cpp binaries every runner loads (pinNodeLlamaCppBuild); default: prebuilt. */
  build?: RunnerBuild;
}

interface PendingGenerate {
  stream: PushTokenStream | undefined;
  resolve: (stream: TokenStream) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  cleanup: () => void;
}

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

let runnerCount = 0;

export class ChildProcessRunner implements Runner {
  readonly id: string;
  readonly backend = "node-llama-cpp";
  private child: ChildProcess | undefined;
  private loadedInfo: ModelInfo | undefined;
  private nextId = 1;
  private readonly generations = new Map<number, PendingGenerate>();
  private readonly calls = new Map<number, PendingCall>();
  private readonly lifecycle: RunnerLifecycle;
  private exitPromise: Promise<RunnerExit> | undefined;

  constructor(
    private readonly spec: RunnerSpec,
    private readonly options: ChildProcessRunnerOptions = {},
  ) {
    this.id = `${spec.name}#${++runnerCount}`;
    this.lifecycle = new RunnerLifecycle(spec.name, (error) => this.failInFlight(error));
  }

  get state(): RunnerState {
    return this.lifecycle.state;
  }

  get pid(): number | undefined {
    return runnerPid(this.child);
  }

  get info(): ModelInfo {
    if (!this.loadedInfo) throw new EdgeError("model_not_ready", `runner ${this.id} has not loaded its model yet`);
    return this.loadedInfo;
  }

  /** Generations in flight in this runner. */
  get activeSequences(): number {
    return this.generations.size;
  }

  start(): Promise<ModelInfo> {
    if (this.child) throw new EdgeError("internal", `runner ${this.id} was already started`);
    if (this.spec.prefixCache?.warmPrefixes.length) {
      // Said, not silently dropped: this engine has no slot-state copy, each sequence evaluates a shared prefix itself once.
      logger.warn(`runner ${this.id} (${this.spec.name}): warm prefixes are precomputed on the llama-server engine only; node-llama-cpp evaluates them on each sequence's first request`);
    }
    // A plain Node process (not the parent's flags, e.g. --test), confined by the sandbox when there is one.
    // Room for every context of per-request adapter sets the runner may keep (their KV caches; weights are shared).
    const selectable = this.spec.selectableAdapters ?? [];
    const adapterContexts =
      selectable.length > 0 ? { count: Math.max(1, this.spec.adapterContexts?.max ?? DEFAULT_ADAPTER_CONTEXTS), sequences: adapterSequences(Math.max(1, this.spec.parallel ?? 1), this.spec.adapterContexts) } : undefined;
    const memoryBytes = modelMemoryBudget(this.spec.path, this.spec.contextSize, this.spec.parallel, undefined, adapterContexts);
    const child = spawnRunner(
      this.options.sandbox,
      { command: process.execPath, args: [RUNNER_MAIN], programPaths: nodeProgramPaths(RUNNER_MAIN), modelPaths: [this.spec.path, ...(this.spec.adapters ?? []).map((a) => a.path), ...selectable.map((a) => a.path)], writableDirs: [], env: process.env, ...(memoryBytes ? { memoryBytes } : {}) },
      { serialization: "advanced", stdio: ["ignore", "pipe", "pipe", "ipc"] },
    );
    this.child = child;
    this.pipeOutput(child);
    this.exitPromise = new Promise<RunnerExit>((resolve) => {
      const onGone = (code: number | null, signal: NodeJS.Signals | null): void => resolve(this.handleExit(code, signal));
      child.once("exit", onGone);
      // A fork that cannot spawn emits "error" without "exit".
      child.once("error", (error) => {
        logger.warn(`runner ${this.id}: ${error.message}`);
        if (child.exitCode === null && child.signalCode === null && child.pid === undefined) onGone(null, null);
      });
    });
    return new Promise<ModelInfo>((resolve, reject) => {
      const timeoutMs = this.options.startTimeoutMs ?? 120_000;
      const timer = setTimeout(() => {
        reject(new EdgeError("model_load_failed", `the runner for ${this.spec.name} did not load the model within ${Math.round(timeoutMs / 1000)} s`));
        this.kill("SIGKILL");
      }, timeoutMs);
      const settle = (): void => {
        clearTimeout(timer);
        child.off("message", onLoadMessage);
        unsubscribe();
      };
      const onLoadMessage = (message: FromRunner): void => {
        if (message.t === "ready") {
          settle();
          this.loadedInfo = message.info;
          this.lifecycle.markReady();
          child.on("message", (m: FromRunner) => this.onMessage(m));
          resolve(message.info);
        } else if (message.t === "load-failed") {
          // The runner exits by itself after reporting; reject once it is gone, so a failed start leaves nothing behind.
          loadError = EdgeError.fromJSON(message.error);
          this.lifecycle.requestStop();
          setTimeout(() => this.kill("SIGKILL"), this.options.stopTimeoutMs ?? 5000).unref();
        }
      };
      let loadError: EdgeError | undefined;
      const unsubscribe = this.onExit((exit) => {
        settle();
        reject(
          loadError ??
            exit.error ??
            new EdgeError("model_load_failed", `the runner for ${this.spec.name} exited while loading (${describeExit(exit)})`, {
              details: { phase: "load", ...(exit.signal ? { signal: exit.signal } : {}) },
            }),
        );
      });
      child.on("message", onLoadMessage);
      this.post({ t: "load", spec: this.spec, build: this.options.build ?? { build: "prebuilt" } }, (error) => {
        settle();
        reject(error);
        this.kill("SIGKILL");
      });
    });
  }

  generate(request: GenerateRequest, signal?: AbortSignal): Promise<TokenStream> {
    const refused = this.refusal(signal);
    if (refused) return Promise.reject(refused);
    const id = this.nextId++;
    return new Promise<TokenStream>((resolve, reject) => {
      let graceTimer: NodeJS.Timeout | undefined;
      // A cancelled request never waits on a runner that does not answer (hung, stopped): it ends
      // here at once if not yet accepted, else once the runner confirms or the grace period is over.
      const onAbort = (): void => {
        this.post({ t: "cancel", id });
        const pending = this.generations.get(id);
        if (!pending) return;
        if (!pending.stream) {
          this.generations.delete(id);
          pending.cleanup();
          pending.reject(abortError(signal!));
          return;
        }
        graceTimer = setTimeout(() => {
          if (this.generations.get(id) !== pending) return;
          this.generations.delete(id);
          pending.cleanup();
          pending.stream?.fail(abortError(signal!));
        }, CANCEL_GRACE_MS);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.generations.set(id, {
        stream: undefined,
        resolve,
        reject,
        signal,
        cleanup: () => {
          clearTimeout(graceTimer);
          signal?.removeEventListener("abort", onAbort);
        },
      });
      this.post({ t: "generate", id, request }, (error) => this.failGeneration(id, error));
    });
  }

  async embed(inputs: string[], signal?: AbortSignal, options?: EmbedOptions): Promise<EmbeddingResult> {
    return (await this.call({ method: "embed", inputs, ...(options ? { options } : {}) }, signal)) as EmbeddingResult;
  }

  async tokenize(text: string, options: { addBos?: boolean } = {}): Promise<number[]> {
    return (await this.call({ method: "tokenize", text, ...(options.addBos !== undefined ? { addBos: options.addBos } : {}) })) as number[];
  }

  async detokenize(tokens: number[]): Promise<string> {
    return (await this.call({ method: "detokenize", tokens })) as string;
  }

  async renderChat(messages: ChatMessage[]): Promise<string> {
    return (await this.call({ method: "renderChat", messages })) as string;
  }

  async health(timeoutMs = 5000): Promise<RunnerHealth> {
    const started = performance.now();
    const timeout = AbortSignal.timeout(timeoutMs);
    const reply = (await this.call({ method: "health" }, timeout)) as RunnerHealthReply;
    return { ok: true, latencyMs: performance.now() - started, ...reply };
  }

  onExit(listener: (exit: RunnerExit) => void): () => void {
    return this.lifecycle.onExit(listener);
  }

  kill(signal: NodeJS.Signals = "SIGTERM", reason?: string): void {
    if (!this.child || this.lifecycle.exited) return;
    if (reason !== undefined) this.lifecycle.noteKill(reason);
    this.child.kill(signal);
  }

  async dispose(): Promise<void> {
    if (!this.child || this.lifecycle.exited) return;
    this.lifecycle.requestStop({ stopping: true });
    this.post({ t: "shutdown" });
    const timeoutMs = this.options.stopTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.kill("SIGKILL");
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.exitPromise, forced]);
    await this.exitPromise;
    clearTimeout(timer);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /** Why new work cannot start now (not ready, crashed, or already cancelled), if it cannot. */
  private refusal(signal: AbortSignal | undefined): EdgeError | undefined {
    return this.lifecycle.refusal(this.id, signal);
  }

  private call(call: RunnerCall, signal?: AbortSignal): Promise<unknown> {
    const refused = this.refusal(signal);
    if (refused) return Promise.reject(refused);
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = (): void => {
        // The runner finishes the call anyway; its reply is dropped.
        this.calls.delete(id);
        reject(abortError(signal!));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.calls.set(id, {
        resolve: (value) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(value);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      });
      this.post({ t: "call", id, call }, (error) => {
        const pending = this.calls.get(id);
        this.calls.delete(id);
        pending?.reject(error);
      });
    });
  }

  /**
   * Sends `message` to the runner. One that must not or cannot be sent (beyond the runner's message budget,
   * unserializable, or the channel gone) never fails silently: `onFailure` gets the reason at once, so the
   * request it carries ends now instead of holding its slot until the deadline.
   */
  private post(message: ToRunner, onFailure?: (error: EdgeError) => void): void {
    const fail = (error: EdgeError): void => onFailure?.(error);
    const child = this.child;
    if (!child?.connected) return fail(new EdgeError("runner_crashed", `runner ${this.id} is not connected`, { retryAfter: 1 }));
    const refused = onFailure ? runnerMessageRefusal(message, this.id) : undefined;
    if (refused) return fail(refused);
    try {
      child.send(message, (error) => {
        if (error) fail(new EdgeError("runner_crashed", `could not send to runner ${this.id}: ${error.message}`, { retryAfter: 1 }));
      });
    } catch (error) {
      fail(new EdgeError("internal", `could not send to runner ${this.id}: ${(error as Error).message}`));
    }
  }

  /** Ends generation `id` with `error` (before or after its stream started). */
  private failGeneration(id: number, error: EdgeError): void {
    const pending = this.generations.get(id);
    if (!pending) return;
    this.generations.delete(id);
    pending.cleanup();
    const reason = pending.signal?.aborted ? abortError(pending.signal) : error;
    if (pending.stream) pending.stream.fail(reason);
    else pending.reject(reason);
  }

  private onMessage(message: FromRunner): void {
    if (message.t !== "batch") return;
    for (const event of message.events) this.onEvent(event);
  }

  private onEvent(event: RunnerEvent): void {
    switch (event.t) {
      case "accepted": {
        const pending = this.generations.get(event.id);
        if (!pending) return;
        const id = event.id;
        pending.stream = new PushTokenStream(() => this.post({ t: "cancel", id }));
        pending.resolve(pending.stream);
        return;
      }
      case "chunk":
        this.generations.get(event.id)?.stream?.push(event.chunk);
        return;
      case "end": {
        const pending = this.generations.get(event.id);
        if (!pending) return;
        this.generations.delete(event.id);
        pending.cleanup();
        pending.stream?.end(event.result);
        return;
      }
      case "fail":
        this.failGeneration(event.id, EdgeError.fromJSON(event.error));
        return;
      case "reply":
      case "reply-error": {
        const pending = this.calls.get(event.id);
        if (!pending) return;
        this.calls.delete(event.id);
        if (event.t === "reply") pending.resolve(event.value);
        else pending.reject(EdgeError.fromJSON(event.error as SerializedEdgeError));
        return;
      }
    }
  }

  private handleExit(code: number | null, signal: NodeJS.Signals | null): RunnerExit {
    if (!this.lifecycle.stopRequested) logger.warn(`runner ${this.id} (pid ${this.child?.pid}) exited: ${describeExit({ code, signal })}`);
    return this.lifecycle.exit({ code, signal });
  }

  /** Fails every generation and call this runner holds (its process is gone). */
  private failInFlight(error: EdgeError): void {
    for (const pending of this.generations.values()) {
      pending.cleanup();
      if (pending.stream) pending.stream.fail(error);
      else pending.reject(error);
    }
    this.generations.clear();
    for (const pending of this.calls.values()) pending.reject(error);
    this.calls.clear();
  }

  /** The runner's stdout/stderr (its log lines, llama.cpp's messages) into our log, tagged with the runner id. */
  private pipeOutput(child: ChildProcess): void {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        const match = /^(error|warn|debug): (.*)$/s.exec(line);
        const level = (match?.[1] ?? "info") as LogLevel;
        const text = match?.[2] ?? line;
        if (text.trim().length > 0) logger[level](`runner ${this.id}: ${text}`);
      });
    }
  }
}

/** Makes node-llama-cpp runner processes. */
export class ChildProcessRunnerFactory implements RunnerFactory {
  readonly backend = "node-llama-cpp";
  constructor(private readonly options: ChildProcessRunnerOptions = {}) {}

  create(spec: RunnerSpec): Runner {
    return new ChildProcessRunner(spec, this.options);
  }
}
