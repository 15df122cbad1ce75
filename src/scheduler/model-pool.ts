/**
 * One served model: its runner processes, the admission queue in front of
 * their slots, crash restarts with backoff, and the operations a policy or an
 * operator uses to change it while it serves (swap, add or remove a runner).
 *
 * Every runner load goes through prepareModel (resolve → verify → GGUF check),
 * so a file is verified again before each process loads it.
 *
 * A pool can also be unloaded (its runners stop, the object stays): the next
 * request loads it again. Its keep-alive says when that happens on its own
 * (keep-alive.ts): never (configured models), once idle for a while
 * (on-demand models, Ollama's keep_alive), or right after the last request.
 * A request's budgets (request-budgets.ts) and the stream it gets
 * (observed-stream.ts) live apart from it.
 * (Over 350 lines: the runners' whole life — load, crash restart, swap,
 * drain, unload — is one state machine; split, its invariants would span files.)
 */
import { statSync } from "node:fs";
import type { Config } from "../config/schema.js";
import { templateLimits } from "../engine/bounded-template.js";
import { grammarCacheLimits } from "../engine/grammar-cache.js";
import { prefixCacheOptions } from "../engine/prefix-cache-options.js";
import { prepareAdapters, prepareAppliedAdapters, type AdapterSpec, type PreparedAdapter } from "../engine/prepare-adapters.js";
import { prepareModel, type PreparedModel } from "../engine/prepare-model.js";
import type { Runner, RunnerExit, RunnerFactory, RunnerHealth } from "../engine/runner.js";
import type { ChatMessage, EmbeddingResult, EmbedOptions, GenerateRequest, ThreadSetting, TokenStream } from "../engine/types.js";
import { EdgeError, toEdgeError, TRUST_REFUSAL_CODES, type ErrorCode } from "../errors.js";
import { logger, type LogLevel } from "../log.js";
import { resolveModel } from "../store/resolve-model.js";
import type { ResolvedModel } from "../store/resolved-model.js";
import { AdmissionQueue } from "./admission-queue.js";
import { KeepAlive } from "./keep-alive.js";
import { ObservedStream } from "./observed-stream.js";
import { boundEmbeddingInputs, checkGenerateBudgets, type TokenBound } from "./request-budgets.js";
import { RunnerHeartbeat } from "./runner-heartbeat.js";
import type { GatewayEvents, ModelState } from "./gateway-events.js";
import type { LocalGeneration, RequestContext, RolloutReport, RunnerStatus, ServedModel, ServedModelStatus, ServedStream } from "./served-model.js";
import { affinityKey, RecentPrompts } from "./prompt-affinity.js";

/** What to serve under one name. */
export interface ServedModelSpec {
  /** The name clients ask for. */
  name: string;
  /** Any model reference: a path, name:tag, hf:... */
  ref: string;
  /** Sequences each runner decodes together. */
  parallel: number;
  /** Context tokens per sequence; default: the engine's (the model's, at most 4096). */
  contextSize?: number;
  /** Runner processes to start. Default 1. */
  runners?: number;
  threads?: Partial<ThreadSetting>;
  /** A registry tag this model follows (oci://host/repo:tag); a rollout follower takes its new digests. */
  follow?: string;
  /**
   * LoRA adapters requests may select (`model: "name+adapter"`), each a GGUF file or a store adapter made for this
   * model (either engine; node-llama-cpp gives each adapter set a context of its own); verified with the model before
   * every load (engine/prepare-adapters.ts).
   */
  adapters?: AdapterSpec[];
  /** LoRA adapters applied to every request of this model, each at its scale (`serve --lora`; either engine). */
  appliedAdapters?: Array<{ path: string; scale: number }>;
  /** System prompts precomputed at load (server.models[].warm_prefixes, files already read). */
  warmPrefixes?: string[];
}

export interface ModelPoolOptions {
  config: Config;
  factory: RunnerFactory;
  events: GatewayEvents;
  /** Requests that may wait beyond the slots. */
  queueLimit: number;
  /** First restart delay after a crash, in ms; doubles per consecutive crash. Default 250. */
  restartDelayMs?: number;
  /** Longest restart delay, in ms. Default 30000. */
  restartDelayMaxMs?: number;
  /** Requests wait for a restart due within this many ms; later ones get 503 + Retry-After. Default 5000. */
  maxRestartWaitMs?: number;
  /** A runner up this long resets the crash count, in ms. Default 60000. */
  stableAfterMs?: number;
  /** Log threshold inside runner processes. */
  runnerLogLevel?: LogLevel;
  /** How often each runner gets a health call, in ms; 0: never. Default 0. */
  heartbeatIntervalMs?: number;
  /** A runner that has not answered one within this many ms is killed and replaced. Default 15000. */
  unresponsiveAfterMs?: number;
  /** Turns a reference into a file; default resolveModel without downloads. */
  resolve?: (ref: string) => Promise<ResolvedModel>;
  /**
   * How long the model stays loaded once idle, in ms (null = until unloaded by
   * an operation; 0 = unload after each request). Default null. A request's
   * keep_alive overrides it for that request (see setKeepAlive).
   */
  keepAliveMs?: number | null;
  /** Not loaded until the first request (on-demand models); start() is never called. Default false. */
  lazy?: boolean;
  /** What describe() shows before the first load has verified the file (on-demand models: from the store entry). */
  idleFacts?: () => Partial<ServedModelStatus>;
  /** Called before each (re)load from the unloaded state; a rejection refuses the waiting requests with it (e.g. a bound on loaded models). */
  beforeLoad?: (pool: ModelPool) => Promise<void>;
}

export type SwapMode = "overlap" | "drain-first";

export interface SwapOptions {
  /**
   * overlap (default): load the new runners first, switch, then drain the old
   * ones — zero downtime, both in memory for a while. drain-first: stop routing,
   * drain and stop the old runners, then load the new — requests wait in the
   * queue meanwhile; for when both would not fit in memory.
   */
  mode?: SwapMode;
  /** Resolve only after the old runners have drained and stopped. Default false. */
  waitForDrain?: boolean;
  /**
   * Checked on each new runner after it loads and before any client request
   * reaches it (a health gate, e.g. a rollout's smoke set); a rejection stops
   * the swap: overlap disposes the new runners with the old ones still serving,
   * drain-first loads the old model again. Default: none.
   */
  gate?: (runner: Runner) => Promise<void>;
}

/** What a swap did. */
export interface SwapResult {
  mode: SwapMode;
  /**
   * Time no runner of the model took new requests, in ms: measured from the
   * moment the old runners stopped being routable to the moment the new ones
   * became routable (requests meanwhile wait in the queue). 0 in overlap mode,
   * where both switch in one step.
   */
  unavailableMs: number;
  durationMs: number;
}

/** What a swap may change. */
export interface ModelChange {
  ref?: string;
  /** The adapters requests may select (replacing the list; runners take their adapter list at launch). */
  adapters?: AdapterSpec[];
  parallel?: number;
  contextSize?: number;
  threads?: Partial<ThreadSetting>;
}

/** A model file that passed the trust rules, with its adapters that did: the selectable ones and the ones its store entry applies to every request. */
type PreparedServing = PreparedModel & { adapters: PreparedAdapter[]; applied: PreparedAdapter[] };

interface RunnerEntry {
  runner: Runner;
  spec: ServedModelSpec;
  prepared: PreparedServing;
  inFlight: number;
  /** Routable once switched on (a swap starts runners switched off). */
  active: boolean;
  /** No new requests; stops when its in-flight requests end. */
  draining: boolean;
  readyAt: number;
  onDrained: (() => void) | undefined;
  /** The pool generation it belongs to (bumped by each swap). */
  generation: number;
  /** The prompts it was given last, for conversation affinity (prompt-affinity.ts). */
  recent: RecentPrompts;
}

/** A load that ended with the runner killed by a fault (SIGILL, SIGSEGV, ...): the same load would crash again. */
function crashedAtLoad(error: EdgeError): boolean {
  const signal = error.details?.signal;
  return error.code === "model_load_failed" && typeof signal === "string" && ["SIGILL", "SIGSEGV", "SIGBUS", "SIGFPE", "SIGABRT"].includes(signal);
}

/** A runner new requests may go to: switched on, not draining, and ready. */
function isRoutable(entry: RunnerEntry): boolean {
  return entry.active && !entry.draining && entry.runner.state === "ready";
}

/** The adapters a runner applies to every request: `serve --lora` files, then the ones the model's store entry applies. */
function appliedAdapters(spec: ServedModelSpec, prepared: PreparedServing): { adapters?: Array<{ path: string; scale: number }> } {
  const adapters = [...(spec.appliedAdapters ?? []), ...prepared.applied.map((a) => ({ path: a.path, scale: a.scale }))];
  return adapters.length > 0 ? { adapters } : {};
}

/**
 * The request's adapters as indices into the admitted runner's adapter list: adapters chosen by name (as the
 * dialects choose them) are looked up there, since the list may have changed (an adapter added or removed) since
 * the request named them. An adapter no longer served is a 400 naming it.
 */
function adaptersOf(request: GenerateRequest, entry: RunnerEntry, model: string): GenerateRequest {
  if (!request.adapters || request.adapters.length === 0) return request;
  const names = entry.prepared.adapters.map((a) => a.name);
  const adapters = request.adapters.map((a) => {
    if (a.name === undefined) return { ...a, scale: a.scale ?? entry.prepared.adapters[a.index]?.scale ?? 1 };
    const index = names.indexOf(a.name);
    if (index === -1) {
      throw new EdgeError("invalid_request", `${model} has no adapter "${a.name}" (${names.length > 0 ? `its adapters: ${names.join(", ")}` : "it has none now"})`, { param: "adapters" });
    }
    return { index, scale: a.scale ?? entry.prepared.adapters[index]!.scale, name: a.name };
  });
  return { ...request, adapters };
}

/** Codes that no retry will fix: the file itself is refused. */
const PERMANENT: ReadonlySet<ErrorCode> = new Set([
  ...TRUST_REFUSAL_CODES,
  "invalid_gguf",
  "unsupported_model",
  "file_not_found",
  "not_a_file",
  "model_not_found",
]);

export class ModelPool implements ServedModel {
  readonly name: string;
  private spec: ServedModelSpec;
  private prepared: PreparedServing | undefined;
  /** Size and mtime of the served file, read when it was verified (describe() is on every request's path). */
  private file: { size: number; modifiedAt: Date } | undefined;
  private readonly entries: RunnerEntry[] = [];
  /** Runners still loading (close() stops them too). */
  private readonly launching = new Set<Runner>();
  private readonly queue: AdmissionQueue<RunnerEntry>;
  private failure: EdgeError | undefined;
  private closing = false;
  private crashes = 0;
  private pendingRestarts = 0;
  private restartAt = 0;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private generation = 0;
  private stateValue: ModelState;
  private swapChain: Promise<unknown> = Promise.resolve();
  private rolloutReport: (() => RolloutReport) | undefined;
  /** The current load, from start() (or the first request of an unloaded pool) until unload(). */
  private loadPromise: Promise<void> | undefined;
  private unloading: Promise<void> | undefined;
  private readonly keepAlive: KeepAlive;
  private readonly heartbeat: RunnerHeartbeat | undefined;

  constructor(
    spec: ServedModelSpec,
    private readonly options: ModelPoolOptions,
  ) {
    this.name = spec.name;
    this.spec = { ...spec, runners: spec.runners ?? 1 };
    this.queue = new AdmissionQueue<RunnerEntry>({
      limit: options.queueLimit,
      tryTake: (hint) => this.takeSlot(hint),
      capacity: () => this.capacity(),
      label: `model ${spec.name}`,
    });
    this.stateValue = options.lazy ? "unloaded" : "loading";
    this.keepAlive = new KeepAlive(options.keepAliveMs ?? null, () => void this.unloadIfIdle());
    if ((options.heartbeatIntervalMs ?? 0) > 0) {
      this.heartbeat = new RunnerHeartbeat({
        intervalMs: options.heartbeatIntervalMs!,
        deadlineMs: options.unresponsiveAfterMs ?? 15_000,
        runners: () => this.entries.map((e) => e.runner),
        onSilent: (runner, silentMs) => this.killSilent(runner, silentMs),
      });
    }
  }

  get state(): ModelState {
    return this.stateValue;
  }

  /**
   * Verifies the file and starts the runners. Never throws: a model that is
   * refused or cannot load ends "failed" with the reason (see describe()).
   */
  start(): Promise<void> {
    if (this.closing) return Promise.resolve();
    this.heartbeat?.start();
    if (this.loadPromise) return this.loadPromise;
    const load: Promise<void> = (async () => {
      await this.unloading;
      try {
        await this.options.beforeLoad?.(this);
      } catch (error) {
        this.loadPromise = undefined;
        this.queue.rejectAll(toEdgeError(error));
        this.updateState();
        return;
      }
      await this.load();
    })();
    this.loadPromise = load;
    this.updateState();
    return load;
  }

  /** Resolves once the current load (if any) has finished or failed. */
  async whenSettled(): Promise<void> {
    await this.loadPromise;
  }

  /**
   * This request's keep-alive (Ollama's keep_alive) in ms: null keeps the model
   * loaded, 0 unloads it once idle, undefined goes back to the pool's default.
   * It holds until the next request sets another.
   */
  setKeepAlive(ms: number | null | undefined): void {
    this.keepAlive.set(ms);
    if (this.isIdle()) this.keepAlive.idle();
  }

  /** When the model will unload if no request comes (null: not scheduled to). */
  get expiresAt(): Date | null {
    if (this.stateValue === "unloaded" || this.stateValue === "stopped") return null;
    return this.keepAlive.expiresAt(this.isIdle());
  }

  /**
   * Stops every runner (in-flight requests finish first) and leaves the pool
   * unloaded: the next request loads it again (verified again). A load in
   * progress finishes first. Does nothing once closing or when not loaded.
   */
  async unload(): Promise<void> {
    if (this.closing || !this.loadPromise) return;
    await this.loadPromise;
    if (this.closing || this.unloading) return this.unloading;
    this.keepAlive.cancel();
    this.retireGeneration(this.generation + 1);
    const entries = this.entries.filter((e) => !e.draining);
    for (const e of entries) e.draining = true;
    this.loadPromise = undefined;
    this.failure = undefined;
    this.crashes = 0;
    const stopped = Promise.all(entries.map((e) => this.stopEntry(e))).then(() => undefined);
    this.unloading = stopped;
    try {
      await stopped;
    } finally {
      this.unloading = undefined;
      this.updateState();
      logger.info(`model ${this.name}: unloaded`);
    }
    if (this.queue.waiting > 0) void this.start(); // a request came while it stopped
  }

  private async unloadIfIdle(): Promise<void> {
    if (this.isIdle()) await this.unload();
  }

  private isIdle(): boolean {
    return this.queue.waiting === 0 && this.entries.every((e) => e.inFlight === 0);
  }

  private async load(): Promise<void> {
    try {
      this.usePrepared(await this.prepare(this.spec));
    } catch (error) {
      this.fail(error);
      return;
    }
    const launches = await Promise.allSettled(
      Array.from({ length: this.spec.runners ?? 1 }, () => this.launch(this.prepared!, this.spec, this.generation)),
    );
    let firstError: unknown;
    for (const launch of launches) {
      if (launch.status === "fulfilled") this.activate(launch.value);
      else firstError ??= launch.reason;
    }
    if (!this.routable() && firstError !== undefined && !this.closing) this.fail(firstError);
    this.updateState();
  }

  async generate(request: GenerateRequest, context: RequestContext): Promise<ServedStream> {
    checkGenerateBudgets(request, this.options.config.server, this.tokenBound());
    const { entry, queueWaitMs, loadWaitMs } = await this.admit(context, affinityKey(request));
    const release = this.releaser(entry);
    const startedAt = performance.now();
    let inner: TokenStream;
    let adapted: GenerateRequest;
    try {
      adapted = adaptersOf(request, entry, this.name);
      inner = await entry.runner.generate(adapted, context.signal);
    } catch (error) {
      release();
      throw error;
    }
    const adapters = (adapted.adapters ?? []).filter((a) => a.scale !== 0).map((a) => entry.prepared.adapters[a.index]!.name);
    if (adapters.length > 0) {
      inner.result.then(
        (r) => this.options.events.emit("adapter:generation", { model: this.name, adapters, completionTokens: r.timings.completionTokens, ok: true }),
        () => this.options.events.emit("adapter:generation", { model: this.name, adapters, completionTokens: 0, ok: false }),
      );
    }
    inner.result
      .then(
        () => this.queue.recordService(performance.now() - startedAt),
        () => {},
      )
      .finally(release);
    const format = request.responseFormat?.type;
    const local: LocalGeneration = { model: this.name, ...(format !== undefined && format !== "text" ? { format } : {}) };
    return new ObservedStream(inner, entry.runner, queueWaitMs, loadWaitMs, context, this.name, this.options.events, local);
  }

  async embed(
    inputs: string[],
    context: RequestContext,
    options?: EmbedOptions,
  ): Promise<EmbeddingResult & { runnerId: string; queueWaitMs: number }> {
    inputs = boundEmbeddingInputs(inputs, options?.truncate === true, this.tokenBound());
    const { entry, queueWaitMs } = await this.admit(context);
    const release = this.releaser(entry);
    try {
      const result = await entry.runner.embed(inputs, context.signal, options);
      return { ...result, runnerId: entry.runner.id, queueWaitMs };
    } finally {
      release();
    }
  }

  /** The loaded context and the vocabulary's longest token, when both are known (a runner has loaded). */
  private tokenBound(): TokenBound | undefined {
    const longestTokenBytes = this.prepared?.summary.longestTokenBytes;
    const loaded = this.entries.find((e) => e.runner.state === "ready");
    return longestTokenBytes === undefined || !loaded ? undefined : { contextSize: loaded.runner.info.contextSize, longestTokenBytes };
  }

  /** Tokenizes with a ready runner's tokenizer (no admission: it does not take a sequence). */
  async tokenize(text: string, options: { addBos?: boolean } = {}): Promise<number[]> {
    return this.readyRunner().tokenize(text, options);
  }

  /** Token ids back to text, by a ready runner (no admission). */
  async detokenize(tokens: number[]): Promise<string> {
    return this.readyRunner().detokenize(tokens);
  }

  /** The prompt text the model's chat template makes of `messages` (no admission). */
  async renderChat(messages: ChatMessage[]): Promise<string> {
    return this.readyRunner().renderChat(messages);
  }

  private readyRunner(): Runner {
    const entry = this.entries.find(isRoutable);
    if (!entry) throw new EdgeError("model_not_ready", `model ${this.name} has no ready runner`, { retryAfter: 1 });
    return entry.runner;
  }

  describe(): ServedModelStatus {
    const prepared = this.prepared;
    const ready = this.entries.find((e) => e.active && e.runner.state === "ready");
    const runners: RunnerStatus[] = this.entries.map((e) => ({
      id: e.runner.id,
      pid: e.runner.pid,
      backend: e.runner.backend,
      state: e.active ? e.runner.state : "starting",
      inFlight: e.inFlight,
      parallel: e.spec.parallel,
      draining: e.draining,
      ref: e.spec.ref,
    }));
    const inFlight = this.entries.reduce((sum, e) => sum + e.inFlight, 0);
    const reason = this.failure?.message ?? (this.stateValue === "restarting" ? "its runner is restarting after a crash" : undefined);
    return {
      name: this.name,
      ref: this.spec.ref,
      path: prepared?.resolved.path ?? "",
      state: this.stateValue,
      ...(reason !== undefined ? { reason } : {}),
      sha256: prepared?.verification.sha256,
      hashVerified: prepared?.verification.hashVerified ?? false,
      trust: prepared ? { status: prepared.trust.status, summary: prepared.trust.summary } : undefined,
      summary: prepared?.summary,
      info: ready?.runner.info,
      fileSize: this.file?.size ?? 0,
      modifiedAt: this.file?.modifiedAt,
      parallel: this.spec.parallel,
      runners,
      queue: { waiting: this.queue.waiting, limit: this.queue.maxWaiting, inFlight, capacity: this.capacity() },
      ...(this.rolloutReport ? { rollout: this.rolloutReport() } : {}),
      expiresAt: this.expiresAt,
      ...(prepared?.resolved.manifest?.settings ? { settings: prepared.resolved.manifest.settings } : {}),
      ...(this.spec.adapters && this.spec.adapters.length > 0 ? { adapters: this.spec.adapters.map((a) => a.name) } : {}),
      ...(prepared && prepared.applied.length > 0 ? { appliedAdapters: prepared.applied.map((a) => ({ name: a.ref ?? a.name, sha256: a.sha256, scale: a.scale, path: a.path })) } : {}),
      ...(prepared ? {} : this.options.idleFacts?.()),
    };
  }

  /** Adds what a rollout follower reports (digest, version, state) to describe(). */
  reportRollout(report: () => RolloutReport): void {
    this.rolloutReport = report;
  }

  /** The registry tag this model follows, if any (spec.follow). */
  get follow(): string | undefined {
    return this.spec.follow;
  }

  /** The reference now served. */
  get servedRef(): string {
    return this.spec.ref;
  }

  /**
   * Replaces the model's runners with ones running `change` (another file,
   * e.g. a lower-precision variant, or other parallel/context settings).
   * The new file is verified first; if it is refused or fails to load, the old
   * runners keep serving and this rejects. See {@link SwapOptions} for the modes.
   */
  swap(change: ModelChange, options: SwapOptions = {}): Promise<SwapResult> {
    const run = this.swapChain.then(() => this.swapNow(change, options));
    this.swapChain = run.catch(() => {});
    return run;
  }

  /** The adapters requests may select now, in load order. */
  get adapters(): readonly AdapterSpec[] {
    return this.spec.adapters ?? [];
  }

  /**
   * Adds an adapter requests may select, without dropping one: a runner takes its adapter list at launch
   * (llama-server loads adapters only then; a node-llama-cpp runner checks them then and opens their contexts on
   * demand), so this is an overlap swap (new runners with the longer list, verified and loaded first; new requests
   * move to them once ready; in-flight ones finish on the old), on either engine. Errors: invalid_request (the name
   * is taken, or 16 are served) and every refusal of the trust path (integrity_mismatch for an adapter of another
   * base) — the old runners keep serving then.
   */
  addAdapter(adapter: AdapterSpec): Promise<SwapResult> {
    return this.changeAdapters((current) => {
      if (current.some((a) => a.name === adapter.name)) throw new EdgeError("invalid_request", `${this.name} already has an adapter "${adapter.name}"`, { param: "name" });
      if (current.length >= 16) throw new EdgeError("invalid_request", `${this.name} has 16 adapters, the most one model may serve; remove one first`, { param: "name" });
      return [...current, adapter];
    });
  }

  /** Removes an adapter the same way (a 404-free swap); requests naming it afterwards get a 400 naming it. */
  removeAdapter(name: string): Promise<SwapResult> {
    return this.changeAdapters((current) => {
      if (!current.some((a) => a.name === name)) {
        throw new EdgeError("model_not_found", `${this.name} has no adapter "${name}"${current.length > 0 ? ` (its adapters: ${current.map((a) => a.name).join(", ")})` : ""}`, { param: "adapter" });
      }
      return current.filter((a) => a.name !== name);
    });
  }

  /** One adapter change, queued behind any swap in progress so each sees the list the previous one left. */
  private changeAdapters(change: (current: readonly AdapterSpec[]) => AdapterSpec[]): Promise<SwapResult> {
    const run = this.swapChain.then(() => this.swapNow({ adapters: change(this.spec.adapters ?? []) }, { mode: "overlap" }));
    this.swapChain = run.catch(() => {});
    return run;
  }

  /** Starts one more runner with the current settings and routes to it once loaded. */
  async addRunner(): Promise<RunnerStatus> {
    if (this.closing) throw new EdgeError("shutting_down", "the gateway is shutting down");
    if (!this.prepared || this.failure) throw new EdgeError("model_not_ready", `model ${this.name} is not serving; swap it to a working file first`);
    const entry = await this.launch(this.prepared, this.spec, this.generation);
    this.activate(entry);
    this.spec = { ...this.spec, runners: this.servingEntries().length };
    return this.describe().runners.find((r) => r.id === entry.runner.id)!;
  }

  /** Drains and stops one runner (the given one, else the least busy); the last one cannot be removed. */
  async removeRunner(runnerId?: string): Promise<void> {
    const serving = this.servingEntries();
    const entry = runnerId ? serving.find((e) => e.runner.id === runnerId) : [...serving].sort((a, b) => a.inFlight - b.inFlight)[0];
    if (!entry) throw new EdgeError("usage", `model ${this.name} has no serving runner ${runnerId ?? ""}`.trim());
    if (serving.length <= 1) throw new EdgeError("usage", `cannot remove the last runner of model ${this.name}; swap the model instead`);
    this.spec = { ...this.spec, runners: serving.length - 1 };
    await this.stopEntry(entry);
  }

  /**
   * Asks every serving runner how it is (IPC round trip, memory, activity).
   * A runner that does not answer within `timeoutMs` (default 1000) is reported with ok: false.
   */
  async health(timeoutMs = 1000): Promise<Array<{ id: string } & (RunnerHealth | { ok: false; error: string })>> {
    return Promise.all(
      this.servingEntries().map(async (e) => {
        try {
          return { id: e.runner.id, ...(await e.runner.health(timeoutMs)) };
        } catch (error) {
          return { id: e.runner.id, ok: false as const, error: toEdgeError(error).message };
        }
      }),
    );
  }

  /** Changes how many requests may wait beyond the slots. */
  setQueueLimit(limit: number): void {
    this.queue.setLimit(limit);
  }

  /** Stops admitting, fails queued requests with shutting_down, and stops every runner. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.keepAlive.cancel();
    this.heartbeat?.stop();
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    this.queue.rejectAll(new EdgeError("shutting_down", "the gateway is shutting down"));
    await Promise.all([...this.entries.map((e) => e.runner.dispose()), ...[...this.launching].map((r) => r.dispose())]);
    this.updateState();
  }

  /** Every runner process, for tests and diagnostics (e.g. to kill one). */
  runnerProcesses(): Array<{ id: string; pid: number | undefined; runner: Runner }> {
    return this.entries.map((e) => ({ id: e.runner.id, pid: e.runner.pid, runner: e.runner }));
  }

  // --- internals -----------------------------------------------------------

  private usePrepared(prepared: PreparedServing): void {
    this.prepared = prepared;
    try {
      const stat = statSync(prepared.resolved.path);
      this.file = { size: stat.size, modifiedAt: stat.mtime };
    } catch {
      this.file = undefined;
    }
  }

  private async prepare(spec: ServedModelSpec): Promise<PreparedServing> {
    const resolve = this.options.resolve ?? ((r: string) => resolveModel(r, this.options.config, { allowDownload: false }));
    const prepared = await prepareModel(await resolve(spec.ref), this.options.config);
    const model = { name: spec.name, path: prepared.resolved.path, sha256: prepared.verification.sha256 };
    return {
      ...prepared,
      adapters: await prepareAdapters(spec.adapters ?? [], spec.name, prepared.verification.sha256, this.options.config),
      applied: await prepareAppliedAdapters(prepared.resolved.manifest?.adapters ?? [], model, this.options.config),
    };
  }

  private async launch(prepared: PreparedServing, spec: ServedModelSpec, generation: number): Promise<RunnerEntry> {
    const runner = this.options.factory.create({
      name: spec.name,
      path: prepared.resolved.path,
      parallel: spec.parallel,
      ...(spec.contextSize !== undefined ? { contextSize: spec.contextSize } : {}),
      ...(spec.threads ? { threads: spec.threads } : {}),
      ...(this.options.config.engine.batch_size !== undefined ? { batchSize: this.options.config.engine.batch_size } : {}),
      mmap: this.options.config.engine.mmap,
      ...(prepared.adapters.length > 0 ? { selectableAdapters: prepared.adapters.map((a) => ({ name: a.name, path: a.path })) } : {}),
      ...appliedAdapters(spec, prepared),
      gpu: this.options.config.engine.gpu,
      chatTemplateLimits: templateLimits(this.options.config.engine.chat_template),
      grammarCacheLimits: grammarCacheLimits(this.options.config.engine.grammar_cache),
      ...prefixCacheOptions(this.options.config, spec.warmPrefixes, prepared.verification.sha256),
      ...(this.options.runnerLogLevel ? { logLevel: this.options.runnerLogLevel } : {}),
    });
    const started = performance.now();
    this.launching.add(runner);
    try {
      await runner.start();
    } finally {
      this.launching.delete(runner);
    }
    if (this.closing) {
      await runner.dispose();
      throw new EdgeError("shutting_down", "the gateway is shutting down");
    }
    const entry: RunnerEntry = {
      runner,
      spec,
      prepared,
      inFlight: 0,
      active: false,
      draining: false,
      readyAt: performance.now(),
      onDrained: undefined,
      generation,
      recent: new RecentPrompts(2 * spec.parallel),
    };
    this.entries.push(entry);
    runner.onExit((exit) => this.onRunnerExit(entry, exit));
    const loadMs = performance.now() - started;
    logger.info(`model ${spec.name}: runner ${runner.id} (pid ${runner.pid}, ${runner.backend}) loaded ${prepared.resolved.path} in ${Math.round(loadMs)} ms`);
    this.options.events.emit("runner:start", { model: this.name, runnerId: runner.id, pid: runner.pid, backend: runner.backend, loadMs });
    return entry;
  }

  /** Makes a started runner routable (if it is still alive) and hands it waiting requests. */
  private activate(entry: RunnerEntry): void {
    if (entry.runner.state !== "ready" || !this.entries.includes(entry)) return;
    entry.active = true;
    this.loadPromise ??= Promise.resolve(); // loaded now, however it came about (a swap or an added runner on an unloaded pool)
    this.updateState();
    this.queue.pump();
  }

  private servingEntries(): RunnerEntry[] {
    return this.entries.filter(isRoutable);
  }

  private routable(): boolean {
    return this.entries.some(isRoutable);
  }

  private capacity(): number {
    let slots = 0;
    for (const e of this.entries) if (isRoutable(e)) slots += e.spec.parallel;
    return slots;
  }

  /**
   * A routable runner with a free sequence (its slot is taken): the one whose recent prompts share the longest
   * prefix with this request's (`hint`, from affinityKey), so a conversation's next turn finds its history
   * cached; among equals (or without a hint), the least busy. The request's key is remembered there.
   */
  private takeSlot(hint?: string): RunnerEntry | undefined {
    let best: RunnerEntry | undefined;
    let bestShared = 0;
    for (const e of this.entries) {
      if (!isRoutable(e) || e.inFlight >= e.spec.parallel) continue;
      const shared = hint !== undefined && this.entries.length > 1 ? e.recent.longestShared(hint) : 0;
      if (!best || shared > bestShared || (shared === bestShared && e.inFlight < best.inFlight)) {
        best = e;
        bestShared = shared;
      }
    }
    if (best) {
      best.inFlight++;
      if (hint !== undefined) best.recent.add(hint);
    }
    return best;
  }

  private releaser(entry: RunnerEntry): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      entry.inFlight--;
      if (entry.draining && entry.inFlight === 0) entry.onDrained?.();
      this.queue.pump();
      if (this.isIdle()) this.keepAlive.idle();
    };
  }

  private async admit(context: RequestContext, hint?: string): Promise<{ entry: RunnerEntry; queueWaitMs: number; loadWaitMs: number }> {
    if (this.closing) throw new EdgeError("shutting_down", "the gateway is shutting down");
    if (this.failure) throw this.failure;
    this.keepAlive.cancel();
    if (!this.loadPromise) void this.start();
    const loading = !this.routable();
    if (loading && this.pendingRestarts > 0 && this.restartAt - performance.now() > (this.options.maxRestartWaitMs ?? 5000)) {
      const retryAfter = Math.ceil((this.restartAt - performance.now()) / 1000);
      throw new EdgeError("model_not_ready", `model ${this.name} is restarting after repeated crashes; retry in ${retryAfter} s`, { retryAfter });
    }
    const waitStart = performance.now();
    const entry = await this.queue.acquire(context.signal, hint);
    const waited = performance.now() - waitStart;
    this.options.events.emit("request:admitted", {
      requestId: context.requestId,
      route: context.route,
      model: this.name,
      runnerId: entry.runner.id,
      queueWaitMs: loading ? 0 : waited,
    });
    return { entry, queueWaitMs: loading ? 0 : waited, loadWaitMs: loading ? waited : 0 };
  }

  private onRunnerExit(entry: RunnerEntry, exit: RunnerExit): void {
    const at = this.entries.indexOf(entry);
    if (at !== -1) this.entries.splice(at, 1);
    this.options.events.emit("runner:exit", {
      model: this.name,
      runnerId: entry.runner.id,
      pid: entry.runner.pid,
      expected: exit.expected,
      code: exit.code,
      signal: exit.signal,
    });
    entry.onDrained?.();
    const serving = entry.active && !entry.draining;
    if (!exit.expected && serving && !this.closing && entry.generation === this.generation) this.scheduleRestart(entry.readyAt);
    this.updateState();
  }

  /**
   * A runner that stopped answering (RunnerHeartbeat): killed, so what it held
   * fails at once saying why, and replaced like a crashed one (queued requests
   * wait for the new runner).
   */
  private killSilent(runner: Runner, silentMs: number): void {
    if (this.closing || !this.entries.some((e) => e.runner === runner)) return;
    const detail = `stopped answering: no health reply within ${Math.round(silentMs)} ms`;
    logger.warn(`model ${this.name}: runner ${runner.id} (pid ${runner.pid}) ${detail}; killing it and starting a new one`);
    this.options.events.emit("runner:kill", { model: this.name, runnerId: runner.id, pid: runner.pid, reason: "unresponsive", detail });
    runner.kill("SIGKILL", detail);
  }

  private scheduleRestart(readyAt: number): void {
    const now = performance.now();
    if (now - readyAt > (this.options.stableAfterMs ?? 60_000)) this.crashes = 0;
    this.crashes++;
    const initial = this.options.restartDelayMs ?? 250;
    const delay = Math.min(this.options.restartDelayMaxMs ?? 30_000, initial * 2 ** (this.crashes - 1));
    this.pendingRestarts++;
    this.restartAt = now + delay;
    this.options.events.emit("runner:restart", { model: this.name, attempt: this.crashes, delayMs: delay });
    logger.warn(`model ${this.name}: restarting its runner in ${delay} ms (crash ${this.crashes} in a row)`);
    const generation = this.generation;
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      void this.restart(generation);
    }, delay);
    this.restartTimers.add(timer);
  }

  private async restart(generation: number): Promise<void> {
    try {
      if (this.closing || generation !== this.generation) return;
      // Verified again before every load: the file may have changed since the last one.
      const prepared = await this.prepare(this.spec);
      const entry = await this.launch(prepared, this.spec, generation);
      if (this.closing || generation !== this.generation) {
        await entry.runner.dispose();
        return;
      }
      this.usePrepared(prepared);
      this.activate(entry);
    } catch (error) {
      const edge = toEdgeError(error);
      if (this.closing || generation !== this.generation) return;
      // A runner killed by a fault while loading will be killed again by the next load: report it once, stop.
      if (PERMANENT.has(edge.code) || crashedAtLoad(edge)) this.fail(edge);
      else {
        logger.warn(`model ${this.name}: restart failed: ${edge.message}`);
        this.scheduleRestart(performance.now());
      }
    } finally {
      this.pendingRestarts--;
      this.updateState();
    }
  }

  private fail(error: unknown): void {
    const edge = toEdgeError(error);
    const hint = crashedAtLoad(edge)
      ? ` — ${String(edge.details!.signal)} at load: the engine was probably built with an instruction set this CPU cannot execute (\`edgelm engine build --rebuild\` probes and builds for this CPU; --engine node-llama-cpp avoids it); not restarted`
      : "";
    this.failure = new EdgeError("model_not_ready", `model ${this.name} is not available: ${edge.message}${hint}`, {
      details: { cause: edge.code, ...(edge.details ?? {}) },
    });
    logger.error(this.failure.message);
    this.queue.rejectAll(this.failure);
    this.updateState();
  }

  private async stopEntry(entry: RunnerEntry): Promise<void> {
    entry.draining = true;
    this.updateState();
    if (entry.inFlight > 0 && this.entries.includes(entry)) {
      await new Promise<void>((resolve) => (entry.onDrained = resolve));
    }
    await entry.runner.dispose();
  }

  private async swapNow(change: ModelChange, options: SwapOptions): Promise<SwapResult> {
    if (this.closing) throw new EdgeError("shutting_down", "the gateway is shutting down");
    const started = performance.now();
    const from = this.spec.ref;
    const next: ServedModelSpec = { ...this.spec };
    if (change.ref !== undefined) next.ref = change.ref;
    if (change.adapters !== undefined) next.adapters = change.adapters;
    if (change.parallel !== undefined) next.parallel = change.parallel;
    if (change.contextSize !== undefined) next.contextSize = change.contextSize;
    if (change.threads !== undefined) next.threads = change.threads;
    // Refused files never replace a working model.
    const prepared = await this.prepare(next);
    const count = Math.max(1, this.servingEntries().length, this.spec.runners ?? 1);
    const generation = this.generation + 1;
    const mode = options.mode ?? "overlap";
    let drained: Promise<unknown>;
    let unavailableMs: number;
    if (mode === "drain-first") {
      const previous = { spec: this.spec, prepared: this.prepared };
      this.retireGeneration(generation);
      const old = this.entries.filter((e) => !e.draining);
      for (const e of old) e.draining = true;
      const offAt = performance.now();
      drained = Promise.all(old.map((e) => this.stopEntry(e)));
      await drained;
      let fresh: RunnerEntry[];
      try {
        fresh = await this.launchAll(prepared, next, count, generation, options.gate);
      } catch (error) {
        // The new model did not load or failed its gate: serve the old one again (verified again before it loads).
        if (previous.prepared && !this.closing) await this.restore(previous.spec, count, generation + 1);
        throw error;
      }
      this.commitSwap(next, prepared, fresh);
      unavailableMs = performance.now() - offAt;
    } else {
      const fresh = await this.launchAll(prepared, next, count, generation, options.gate);
      // The switch: new requests go to the new runners from here on; the old ones finish what they hold.
      const offAt = performance.now();
      this.retireGeneration(generation);
      const old = this.entries.filter((e) => !fresh.includes(e) && !e.draining);
      for (const e of old) e.draining = true;
      this.commitSwap(next, prepared, fresh);
      unavailableMs = this.routable() ? 0 : performance.now() - offAt;
      drained = Promise.all(old.map((e) => this.stopEntry(e)));
    }
    const durationMs = performance.now() - started;
    this.options.events.emit("model:swap", { model: this.name, from, to: next.ref, durationMs, mode, unavailableMs });
    logger.info(`model ${this.name}: now serving ${prepared.resolved.path} (was ${from}; ${mode}, ${unavailableMs.toFixed(1)} ms without a runner)`);
    if (options.waitForDrain) await drained;
    else drained.catch((error: unknown) => logger.warn(`model ${this.name}: stopping an old runner failed: ${toEdgeError(error).message}`));
    return { mode, unavailableMs, durationMs };
  }

  /** After a failed drain-first swap: the previous model again (or failed, when even that no longer loads). */
  private async restore(spec: ServedModelSpec, count: number, generation: number): Promise<void> {
    try {
      const prepared = await this.prepare(spec);
      this.retireGeneration(generation);
      this.commitSwap(spec, prepared, await this.launchAll(prepared, spec, count, generation));
    } catch (error) {
      this.fail(error);
    }
  }

  /** Moves to a new generation: runners of older ones are not restarted after a crash. */
  private retireGeneration(generation: number): void {
    this.generation = generation;
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.pendingRestarts -= this.restartTimers.size;
    this.restartTimers.clear();
  }

  private async launchAll(prepared: PreparedServing, spec: ServedModelSpec, count: number, generation: number, gate?: (runner: Runner) => Promise<void>): Promise<RunnerEntry[]> {
    const launches = await Promise.allSettled(
      Array.from({ length: count }, async () => {
        const entry = await this.launch(prepared, spec, generation);
        if (gate) {
          try {
            await gate(entry.runner);
          } catch (error) {
            await entry.runner.dispose();
            throw error;
          }
        }
        return entry;
      }),
    );
    const fresh = launches.filter((l): l is PromiseFulfilledResult<RunnerEntry> => l.status === "fulfilled").map((l) => l.value);
    const failed = launches.find((l): l is PromiseRejectedResult => l.status === "rejected");
    if (failed) {
      await Promise.all(fresh.map((e) => e.runner.dispose()));
      throw failed.reason;
    }
    return fresh;
  }

  private commitSwap(next: ServedModelSpec, prepared: PreparedServing, fresh: RunnerEntry[]): void {
    this.spec = { ...next, runners: fresh.length };
    this.usePrepared(prepared);
    this.failure = undefined;
    this.crashes = 0;
    for (const e of fresh) this.activate(e);
    this.updateState();
  }

  private updateState(): void {
    let state: ModelState;
    if (this.closing) state = "stopped";
    else if (this.failure) state = "failed";
    else if (this.routable()) state = "ready";
    else if (this.pendingRestarts > 0 || this.crashes > 0) state = "restarting";
    else if (!this.loadPromise && (this.options.lazy || this.stateValue !== "loading")) state = "unloaded";
    else state = "loading";
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.options.events.emit("model:state", {
      model: this.name,
      state,
      ...(this.failure ? { reason: this.failure.message } : {}),
    });
  }
}
