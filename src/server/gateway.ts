/**
 * The gateway: served models (one ModelPool each, with runner processes), the
 * HTTP app speaking the OpenAI and Ollama dialects, and the public operations
 * that ops code and operators use while it serves (swap a model, add or remove
 * a runner, resize a queue, add or remove a model). Everything it does is
 * reported on `events`. It is given its runner factory and knows nothing of
 * routing or ops: `EdgeNode` (src/edge-node.ts) wires those around it.
 *
 *   const gateway = new Gateway(config, specs, { runnerFactory });
 *   gateway.app.get("/metrics", ...);   // extra routes before listen()
 *   await gateway.listen();
 *   await gateway.close();
 *
 * (Over 350 lines: it is one facade — the model directory the dialects read,
 * the operations ops and the admin API call, listen and close — and each
 * member is a few lines over the same map of pools, delegating to ModelPool,
 * OnDemandModels and RequestTracker, where the work is.)
 */
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config/schema.js";
import { consoleEnabled } from "../config/sections/server.js";
import type { AdapterSpec } from "../engine/prepare-adapters.js";
import type { Runner, RunnerFactory } from "../engine/runner.js";
import { closestMatch } from "../store/model-ref.js";
import { EdgeError } from "../errors.js";
import { isLogLevelEnabled, logger, type LogLevel } from "../log.js";
import { GatewayEvents } from "../scheduler/gateway-events.js";
import { RequestTracker } from "../scheduler/request-tracker.js";
import { parseKeepAlive } from "../scheduler/keep-alive.js";
import { ModelPool, type ModelChange, type ModelPoolOptions, type ServedModelSpec, type SwapOptions, type SwapResult } from "../scheduler/model-pool.js";
import { OnDemandModels } from "../scheduler/on-demand-models.js";
import { parseStoreName, formatStoreName } from "../store/model-ref.js";
import type { RunnerStatus, ServedModel, ServedModelStatus } from "../scheduler/served-model.js";
import type { ApiDialect } from "./api-dialect.js";
import type { AppHost, ModelDirectory, ModelReadiness, StoreModelHost } from "./app-host.js";
import { createApp } from "./app.js";
import { ollamaDialect } from "./ollama.js";
import { llamaServerDialect } from "./llama-server-routes.js";
import { openAiDialect } from "./openai.js";
import { checkOneMoreRunner } from "./runner-budget.js";

export interface GatewayOptions {
  /** How runner processes are made (required: the composition root picks it by engine.backend, see engine-choice.ts). */
  runnerFactory: RunnerFactory;
  /** API dialects; default OpenAI, Ollama, then llama-server's native routes. */
  dialects?: ApiDialect[];
}

export interface CloseOptions {
  /** How long in-flight requests may run before they are cancelled, in ms. Default server.shutdown_grace_s. */
  graceMs?: number;
}

export class Gateway implements AppHost, ModelDirectory, StoreModelHost {
  readonly events = new GatewayEvents();
  readonly app: FastifyInstance;
  private readonly pools = new Map<string, ModelPool>();
  private readonly starts = new Map<string, Promise<void>>();
  private readonly factory: RunnerFactory;
  private closePromise: Promise<void> | undefined;
  private listening = false;
  /** Every request in flight, whatever its transport (shutdown waits for them, then cancels them). */
  readonly requests = new RequestTracker(this.events);
  /** Models served under their own name that answer with a local one (routed models), with that local model's name. */
  private readonly routed = new Map<string, { model: ServedModel; local: string }>();
  /** Store models served on demand (not in server.models): loaded by their first request, bounded by server.max_loaded_models. */
  private readonly onDemand: OnDemandModels;

  constructor(
    readonly config: Config,
    specs: ServedModelSpec[],
    options: GatewayOptions,
  ) {
    this.factory = options.runnerFactory;
    for (const spec of specs) this.pools.set(spec.name, this.makePool(spec));
    const keepAliveMs = parseKeepAlive(config.server.keep_alive);
    this.onDemand = new OnDemandModels({
      config,
      maxLoaded: config.server.max_loaded_models,
      makePool: (spec, extra) => this.makePool(spec, { lazy: true, keepAliveMs: keepAliveMs === undefined ? 5 * 60_000 : keepAliveMs, ...extra }),
    });
    if (isLogLevelEnabled("debug")) {
      this.events.on("request:end", (e) =>
        logger.debug(`${e.route} ${e.model || "-"} ${e.status}${e.errorCode ? ` ${e.errorCode}` : ""} ${e.completionTokens} tokens ${Math.round(e.durationMs)} ms`),
      );
    }
    this.app = createApp(this, {
      dialects: options.dialects ?? [openAiDialect, ollamaDialect, llamaServerDialect],
      apiKeys: config.server.api_keys,
      adminKeys: config.server.admin_keys,
      bodyLimitBytes: config.server.body_limit_bytes,
      jsonMaxDepth: config.server.json_max_depth,
      publicPaths: config.metrics.enabled && config.metrics.public ? ["/metrics"] : [],
      consolePublic: consoleEnabled(config.server),
    });
  }

  /** The model directory the dialects look models up in (this gateway). */
  get directory(): ModelDirectory {
    return this;
  }

  /** Model management over the store (this gateway). */
  get storeModels(): StoreModelHost {
    return this;
  }

  /** Stops serving a store entry on demand (it is being removed or replaced). */
  forgetStoreModel(reference: string): Promise<void> {
    return this.onDemand.forget(reference);
  }

  /** The configured model whose reference is the store entry `reference`, if any. */
  configuredFor(reference: string): string | undefined {
    for (const pool of this.pools.values()) {
      try {
        if (formatStoreName(parseStoreName(pool.describe().ref, "ref")) === reference) return pool.name;
      } catch {
        // a path or hf: reference: not a store name
      }
    }
    return undefined;
  }

  /** Per-request deadline in ms (server.request_timeout_ms; 0 = none). */
  get requestTimeoutMs(): number {
    return this.config.server.request_timeout_ms;
  }

  /** Whether unknown request fields are a 400 (server.strict_fields) instead of ignored. */
  get strictFields(): boolean {
    return this.config.server.strict_fields;
  }

  /** Bounds of the stored Responses (server.responses_store_entries, server.responses_store_bytes). */
  get responseStoreLimits(): { entries: number; bytes: number } {
    return { entries: this.config.server.responses_store_entries, bytes: this.config.server.responses_store_bytes };
  }

  /**
   * Starts listening on server.host:server.port (port 0 picks a free one) and
   * starts every model's runners in the background; see whenReady().
   * Resolves with the base URL.
   */
  async listen(): Promise<string> {
    const { host, port } = this.config.server;
    try {
      await this.app.listen({ host, port });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE") throw new EdgeError("usage", `${host}:${port} is already in use; choose another port with --port`, { param: "port" });
      if (code === "EACCES") throw new EdgeError("usage", `binding ${host}:${port} is not permitted; use a port above 1023`, { param: "port" });
      if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw new EdgeError("usage", `cannot bind ${host}: no such address on this machine`, { param: "host" });
      throw error;
    }
    this.listening = true;
    for (const [name, pool] of this.pools) if (!this.starts.has(name)) this.starts.set(name, pool.start());
    return this.url;
  }

  /** Resolves once every model has loaded or failed (see models() for which). */
  async whenReady(): Promise<void> {
    await Promise.all(this.starts.values());
  }

  /** Resolves once `name` has loaded or failed (loading it first when it is unloaded). */
  async whenModelSettled(name: string): Promise<void> {
    const pool = this.findPool(name) ?? this.configuredPoolFor(name) ?? this.onDemand.find(name);
    if (!pool) throw this.notServed(name);
    await this.starts.get(pool.name);
    if (pool.state === "unloaded") await pool.start();
    await pool.whenSettled();
  }

  /** The base URL, e.g. http://127.0.0.1:11435. */
  get url(): string {
    const address = this.app.server.address() as AddressInfo | null;
    if (!address) throw new EdgeError("internal", "the gateway is not listening");
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /** The model serving `name` (also `name:latest`, any case), or model_not_found naming what is served. */
  lookup(name: string): ServedModel {
    const pool = this.findPool(name);
    if (pool) return pool;
    const routed = this.routed.get(name) ?? this.routed.get(name.replace(/:latest$/i, ""));
    if (routed) return routed.model;
    const stored = this.configuredPoolFor(name) ?? this.onDemand.find(name);
    if (stored) return stored;
    throw this.notServed(name);
  }

  /** The configured pool whose reference is the store entry `name` (e.g. served as "assistant" from smollm2:360m-q8_0). */
  private configuredPoolFor(name: string): ModelPool | undefined {
    try {
      const configured = this.configuredFor(formatStoreName(parseStoreName(name, "model")));
      return configured === undefined ? undefined : this.pools.get(configured);
    } catch {
      return undefined;
    }
  }

  private notServed(name: string): EdgeError {
    const names = [...this.pools.keys(), ...this.routed.keys(), ...this.onDemand.names()];
    const suggestion = closestMatch(name, names);
    return new EdgeError(
      "model_not_found",
      `model "${name}" is not served here${suggestion ? `; did you mean "${suggestion}"?` : ""} (served: ${names.join(", ") || "none"})`,
      { param: "model" },
    );
  }

  /** Every served model's status: the configured and routed ones, then the store's (served on demand). */
  models(): ServedModelStatus[] {
    const served = [...this.pools.values(), ...[...this.routed.values()].map((r) => r.model)].map((p) => p.describe());
    const stored = this.onDemand.statuses().filter((s) => !this.findPool(s.name) && !this.routed.has(s.name) && this.configuredFor(s.name) === undefined);
    return [...served, ...stored];
  }

  /**
   * Every model's state for readiness probes; a ready model whose runners do not
   * answer a health call within a second is reported "unresponsive".
   */
  async readiness(): Promise<ModelReadiness[]> {
    return Promise.all(
      [...this.pools.values()].map(async (pool) => {
        const status = pool.describe();
        const rollout = status.rollout ? { rollout: status.rollout } : {};
        if (status.state !== "ready") return { name: status.name, state: status.state, ...(status.reason ? { reason: status.reason } : {}), ...rollout };
        const silent = (await pool.health()).filter((h) => !h.ok);
        if (silent.length === 0) return { name: status.name, state: "ready", ...rollout };
        return { name: status.name, state: "unresponsive", reason: `runner ${silent.map((h) => h.id).join(", ")} did not answer a health check`, ...rollout };
      }),
    );
  }

  /** Every local runner process of every model (metrics, diagnostics). */
  runnerProcesses(): Array<{ model: string; id: string; runner: Runner }> {
    return [...this.pools.values()].flatMap((pool) => pool.runnerProcesses().map((r) => ({ model: pool.name, id: r.id, runner: r.runner })));
  }

  /** A local model's status (model_not_found when `name` is not a local model). */
  status(name: string): ServedModelStatus {
    return this.pool(name).describe();
  }

  /** The local pool served as `name` (also `name:latest`, any case), if any. */
  findLocal(name: string): ModelPool | undefined {
    return this.findPool(name);
  }

  /** Names of the locally served models. */
  localNames(): string[] {
    return [...this.pools.keys()];
  }

  /**
   * Serves `model` under its own name beside the local models (the router's
   * routed models); the local model `local` it answers with cannot be removed
   * while it is served. Call before listen().
   */
  addRoutedModel(model: ServedModel, local: string): void {
    if (this.findPool(model.name) || this.routed.has(model.name)) throw new EdgeError("invalid_config", `model "${model.name}" is already served`);
    this.routed.set(model.name, { model, local });
  }

  /** The local pool behind a served model (operations, diagnostics). */
  pool(name: string): ModelPool {
    const pool = this.findPool(name);
    if (!pool) throw new EdgeError("model_not_found", `model "${name}" is not served here`, { param: "model" });
    return pool;
  }

  // --- operations (policies and operators) ---------------------------------

  /**
   * Serves `name` from another file or with other settings, with zero downtime
   * by default: the new runners load (after verification), new requests go to
   * them, the old ones drain and stop. Rejects (old runners still serving) when
   * the new file is refused or does not load. A string is a new model reference.
   */
  swapModel(name: string, change: string | ModelChange, options?: SwapOptions): Promise<SwapResult> {
    return this.pool(name).swap(typeof change === "string" ? { ref: change } : change, options);
  }

  /** Starts one more runner process for `name`, within server.max_runners and the memory left (runner-budget.ts). */
  async addRunner(name: string): Promise<RunnerStatus> {
    const pool = this.pool(name);
    checkOneMoreRunner(pool.describe(), this.config, this.factory.backend);
    return pool.addRunner();
  }

  /** Drains and stops one runner of `name` (the given one, else the least busy). */
  /** Adds an adapter requests to `name` may select (ModelPool.addAdapter: an overlap swap, no request dropped). */
  addAdapter(name: string, adapter: AdapterSpec): Promise<SwapResult> {
    return this.pool(name).addAdapter(adapter);
  }

  /** Removes one (ModelPool.removeAdapter). */
  removeAdapter(name: string, adapter: string): Promise<SwapResult> {
    return this.pool(name).removeAdapter(adapter);
  }

  removeRunner(name: string, runnerId?: string): Promise<void> {
    return this.pool(name).removeRunner(runnerId);
  }

  /** Changes how many requests may wait for `name` beyond its slots. */
  setQueueLimit(name: string, limit: number): void {
    this.pool(name).setQueueLimit(limit);
  }

  /** Serves one more model (verified and loaded in the background when listening). */
  async addModel(spec: ServedModelSpec): Promise<ServedModelStatus> {
    if (this.findPool(spec.name)) throw new EdgeError("usage", `model "${spec.name}" is already served`, { param: "model" });
    const pool = this.makePool(spec);
    this.pools.set(spec.name, pool);
    if (this.listening) {
      const start = pool.start();
      this.starts.set(spec.name, start);
      await start;
    }
    return pool.describe();
  }

  /** Stops serving a model: queued requests fail, in-flight ones are cancelled, its runners stop. */
  async removeModel(name: string): Promise<void> {
    const pool = this.pool(name);
    const route = [...this.routed.entries()].find(([, r]) => r.local === pool.name)?.[0];
    if (route) throw new EdgeError("usage", `model "${pool.name}" answers routed model "${route}"; it cannot be removed while the route exists`, { param: "model" });
    this.pools.delete(pool.name);
    this.starts.delete(pool.name);
    await pool.close();
  }

  /**
   * Stops accepting requests, lets in-flight ones finish for the grace period,
   * cancels the rest (their clients get a shutting_down error), then stops every
   * runner. Safe to call more than once.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closePromise ??= this.shutdown(options.graceMs ?? this.config.server.shutdown_grace_s * 1000);
    return this.closePromise;
  }

  /** True from the start of close(): new requests get 503 shutting_down. */
  get closing(): boolean {
    return this.requests.closing;
  }

  /** Requests in flight. */
  get activeRequests(): number {
    return this.requests.size;
  }

  private findPool(name: string): ModelPool | undefined {
    const exact = this.pools.get(name) ?? this.pools.get(name.replace(/:latest$/i, ""));
    if (exact) return exact;
    const wanted = name.replace(/:latest$/i, "").toLowerCase();
    for (const pool of this.pools.values()) if (pool.name.toLowerCase() === wanted) return pool;
    return undefined;
  }

  private makePool(spec: ServedModelSpec, extra: Partial<ModelPoolOptions> = {}): ModelPool {
    const server = this.config.server;
    const runnerLogLevel: LogLevel = isLogLevelEnabled("debug") ? "debug" : isLogLevelEnabled("info") ? "warn" : "error";
    return new ModelPool(spec, {
      config: this.config,
      factory: this.factory,
      events: this.events,
      queueLimit: server.queue,
      restartDelayMs: server.restart_delay_ms,
      restartDelayMaxMs: server.restart_delay_max_ms,
      heartbeatIntervalMs: server.runner_heartbeat_ms,
      unresponsiveAfterMs: server.runner_unresponsive_ms,
      runnerLogLevel,
      ...extra,
    });
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.requests.beginClose();
    const cancelAll = (): void => this.requests.cancelAll(new EdgeError("shutting_down", "the gateway is shutting down"));
    const appClosed = this.listening ? this.app.close() : Promise.resolve();
    const idle = this.requests.whenIdle();
    const deadline = setTimeout(cancelAll, graceMs);
    // A client that stops reading must not hold the shutdown: after the deadline and a little more (past the runners' 1 s cancel grace), drop the connections.
    let forced!: () => void;
    const forcedClose = new Promise<void>((resolve) => (forced = resolve));
    const force = setTimeout(() => {
      this.app.server.closeAllConnections();
      forced();
    }, graceMs + 3000);
    await Promise.race([idle, forcedClose]);
    clearTimeout(deadline);
    // Keep-alive connections whose last response just ended are idle now.
    this.app.server.closeIdleConnections();
    await appClosed;
    clearTimeout(force);
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    await this.onDemand.close();
  }
}
