/**
 * Watching and adapting a gateway: attaches the metrics registry (request
 * metrics from the gateway's events, resource metrics from the sampler), the
 * signals policies read, the alert sinks and the policy engine — all acting
 * through the gateway's public operations. `edgelm serve` attaches one; so can
 * any embedder:
 *
 *   const gateway = new Gateway(config, specs, { runnerFactory });
 *   const ops = GatewayOps.attach(gateway, config, { router });   // before listen(): adds /metrics and /admin/*
 *   await gateway.listen();
 *   ...
 *   await ops.close();
 *   await gateway.close();
 *
 * `EdgeNode` (src/edge-node.ts) does this for `edgelm serve` and library users.
 */
import { hostname } from "node:os";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config/schema.js";
import type { AdapterSpec } from "../engine/prepare-adapters.js";
import type { Runner } from "../engine/runner.js";
import type { AdapterGenerationEvent, GatewayEventMap, GatewayEvents } from "../scheduler/gateway-events.js";
import type { ModelChange, SwapOptions } from "../scheduler/model-pool.js";
import type { RunnerStatus, ServedModelStatus } from "../scheduler/served-model.js";
import { registerOpsRoutes } from "./ops-routes.js";
import { ModelStore } from "../store/model-store.js";
import { AlertDispatcher } from "./alert-dispatcher.js";
import type { AlertSink } from "./alert-sink.js";
import { AlertmanagerSink } from "./alertmanager-sink.js";
import { GrammarCacheMetrics } from "./grammar-cache-metrics.js";
import { PrefixCacheMetrics } from "./prefix-cache-metrics.js";
import { AdapterMetrics } from "./adapter-metrics.js";
import { EngineMetrics } from "./engine-metrics.js";
import { MetricsRegistry } from "./metrics-registry.js";
import { OutboxMetrics } from "./outbox-metrics.js";
import { AnswerEventMetrics } from "./answer-event-metrics.js";
import type { AnswerRuleStats } from "../router/answer-events.js";
import { CommandMetrics } from "./command-metrics.js";
import type { CommandStats } from "./mqtt-command-channel.js";
import type { OutboxStats } from "../router/outbox.js";
import { PolicyEngine } from "./policy-engine.js";
import type { GatewayOperations, RouteWeightControl, ServedModelView, VariantFinder } from "./policy-target.js";
import { RequestMetrics } from "./request-metrics.js";
import { ResourceMetrics } from "./resource-metrics.js";
import { ResourceSampler, type PowerMeter } from "./resource-sampler.js";
import { SignalBoard } from "./signal-board.js";
import { SysfsPowerMeter } from "./sysfs-power-meter.js";
import { storeVariantFinder } from "./variant-ladder.js";
import { WebhookSink } from "./webhook-sink.js";

/**
 * What ops attaches to: the gateway's events, its app (for /metrics and
 * /admin/*), and its public operations. `Gateway` implements it.
 */
export interface OpsHost extends GatewayOperations {
  readonly config: Config;
  readonly events: GatewayEvents;
  readonly app: FastifyInstance;
  models(): ServedModelStatus[];
  /** A local model's status (model_not_found for any other name). */
  status(name: string): ServedModelStatus;
  addRunner(name: string): Promise<RunnerStatus>;
  swapModel(name: string, change: string | ModelChange, options?: SwapOptions): Promise<unknown>;
  /** Adds / removes an adapter requests may select (a no-drop swap). */
  addAdapter(name: string, adapter: AdapterSpec): Promise<{ durationMs: number }>;
  removeAdapter(name: string, adapter: string): Promise<{ durationMs: number }>;
  /** Every local runner process (engine metrics). */
  runnerProcesses(): Array<{ model: string; id: string; runner: Runner }>;
}

export interface GatewayOpsOptions {
  /** The router's load weights, for shift_to_peer and /admin/routing/weights. Default: none (no load shifting). */
  router?: RouteWeightControl;
  /** Where lower-precision variants are found. Default: the model store under config.home. */
  variants?: VariantFinder;
  /** A power meter; default the machine's sensor under config.sysfs_root (none: no power metrics). */
  power?: PowerMeter;
  /** Where /proc is read. Default "/proc". */
  procRoot?: string;
  /** Extra alert sinks beside the configured ones. */
  sinks?: AlertSink[];
  /** The event outbox, for its metrics (edgelm_events_*). Default: none. */
  outbox?: { stats(): OutboxStats };
  /** Events from answers (router.events.emit), for edgelm_answer_events_*. Default: none. */
  answerEvents?: { stats(): AnswerRuleStats[] };
  /** Signed commands over MQTT (router.events.commands), for edgelm_commands_*. Default: none. */
  commands?: { stats(): CommandStats };
}

/** Routes that are the gateway's own plumbing, not API traffic (the web console's files and polls among them). */
const PLUMBING = new Set(["health", "ready", "metrics"]);

/** Request metrics label API routes by name; any other path (a 404, a 401 before routing) counts as "other" to keep labels bounded. */
function metricRoute(route: string): string | undefined {
  if (PLUMBING.has(route) || route.startsWith("admin.") || route.startsWith("console.")) return undefined;
  return /^(openai|ollama|grpc)\.[a-z_]+$/.test(route) ? route : "other";
}

export class GatewayOps {
  readonly metrics: MetricsRegistry | undefined;
  readonly requests: RequestMetrics | undefined;
  readonly sampler: ResourceSampler;
  readonly signals = new SignalBoard();
  readonly alerts: AlertDispatcher;
  readonly policies: PolicyEngine;
  readonly router: RouteWeightControl | undefined;
  readonly variants: VariantFinder;
  /** The power sensor read by the sampler, when the machine has one. */
  readonly power: PowerMeter | undefined;
  private readonly detach: Array<() => void> = [];
  private closed = false;

  private constructor(
    readonly gateway: OpsHost,
    readonly config: Config,
    options: GatewayOpsOptions,
  ) {
    const operations: GatewayOperations = gateway;
    const models = (): ServedModelView[] => gateway.models();
    this.power = options.power ?? SysfsPowerMeter.forMachine(config.sysfs_root);
    this.router = options.router;
    this.variants = options.variants ?? storeVariantFinder(ModelStore.open(config));
    this.sampler = new ResourceSampler({
      procRoot: options.procRoot ?? "/proc",
      intervalMs: config.metrics.sample_interval_s * 1000,
      runners: () => models().flatMap((m) => m.runners.map((r) => ({ model: m.name, runnerId: r.id, pid: r.pid }))),
      ...(this.power ? { power: this.power } : {}),
    });

    if (config.metrics.enabled) {
      this.metrics = new MetricsRegistry();
      this.requests = new RequestMetrics(this.metrics, { windowSeconds: config.metrics.window_s, models });
      const resources = new ResourceMetrics(this.metrics, (seconds) => this.requests!.tokensOver(seconds), config.metrics.window_s);
      this.detach.push(this.sampler.onSample((snapshot) => resources.update(snapshot)));
      this.listen(this.requests);
      const adapters = new AdapterMetrics(this.metrics);
      const onAdapter = (e: AdapterGenerationEvent): void => adapters.generation(e);
      gateway.events.on("adapter:generation", onAdapter);
      this.detach.push(() => gateway.events.off("adapter:generation", onAdapter));
      const runnerViews = () => gateway.runnerProcesses().map((r) => ({ model: r.model, runnerId: r.id, runner: r.runner }));
      new EngineMetrics(this.metrics, runnerViews);
      new GrammarCacheMetrics(this.metrics, runnerViews);
      new PrefixCacheMetrics(this.metrics, runnerViews);
      const outbox = options.outbox;
      if (outbox) new OutboxMetrics(this.metrics, () => outbox.stats());
      const answerEvents = options.answerEvents;
      if (answerEvents) new AnswerEventMetrics(this.metrics, () => answerEvents.stats());
      const commands = options.commands;
      if (commands) new CommandMetrics(this.metrics, () => commands.stats());
    }

    const latest = () => this.sampler.latest;
    const percent = (ratio: number | undefined): number | undefined => (ratio === undefined ? undefined : ratio * 100);
    this.signals
      .set("cpu_percent", () => percent(latest()?.systemCpu))
      .set("process_cpu_percent", () => percent(latest()?.processCpu))
      .set("memory_used_percent", () => percent(latest()?.memory.usedRatio))
      .set("memory_pressure_percent", () => percent(latest()?.pressure?.some.avg10))
      .set("power_watts", () => latest()?.power?.watts)
      .set("queue_waiting", () => models().reduce((sum, m) => sum + m.queue.waiting, 0));
    if (this.requests) {
      const requests = this.requests;
      this.signals.set("ttft_p95_ms", () => requests.ttftP95Ms()).set("decode_tokens_per_second", () => requests.tokensPerSecond());
    }

    const alerts = config.policies.alerts;
    const sinks: AlertSink[] = [
      ...alerts.alertmanager.map((url) => new AlertmanagerSink(url, alerts.timeout_ms)),
      ...alerts.webhooks.map((hook) => new WebhookSink(hook.url, hook.headers ?? {}, alerts.timeout_ms)),
      ...(options.sinks ?? []),
    ];
    this.alerts = new AlertDispatcher(sinks, {
      resendMs: alerts.resend_s * 1000,
      labels: { instance: hostname() },
      ...(this.metrics ? { metrics: this.metrics } : {}),
    });
    this.policies = new PolicyEngine({
      config: config.policies,
      signals: this.signals,
      alerts: this.alerts,
      gateway: operations,
      ...(this.router ? { router: this.router } : {}),
      variants: this.variants,
      resources: latest,
      ...(this.metrics ? { metrics: this.metrics } : {}),
    });
  }

  /**
   * Attaches metrics, policies and the admin API to `gateway` (call before
   * listen(): routes are added to its app) and starts sampling and policies.
   */
  static attach(gateway: OpsHost, config: Config = gateway.config, options: GatewayOpsOptions = {}): GatewayOps {
    const ops = new GatewayOps(gateway, config, options);
    registerOpsRoutes(gateway.app, ops);
    ops.start();
    return ops;
  }

  /**
   * Starts sampling resources now, and evaluating policies once a model serves
   * (a rule firing while models still load could only alert, then sit in its cooldown).
   * attach() does this.
   */
  start(): void {
    if (this.closed) return;
    if (this.metrics || this.config.policies.enabled) this.sampler.start();
    if (this.gateway.models().some((m) => m.state === "ready")) {
      this.policies.start();
      return;
    }
    const onState = (event: { state: string }): void => {
      if (event.state !== "ready" || this.closed) return;
      this.gateway.events.off("model:state", onState);
      this.policies.start();
    };
    this.gateway.events.on("model:state", onState);
    this.detach.push(() => this.gateway.events.off("model:state", onState));
  }

  /** Stops policies, sampling and alert re-sends, and detaches from the gateway's events. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.policies.stop();
    this.sampler.stop();
    for (const undo of this.detach.splice(0)) undo();
    this.power?.close?.();
    await this.alerts.close();
  }

  private listen(requests: RequestMetrics): void {
    const events = this.gateway.events;
    const on = <K extends keyof GatewayEventMap>(name: K, listener: (...args: GatewayEventMap[K]) => void): void => {
      events.on(name, listener as never);
      this.detach.push(() => events.off(name, listener as never));
    };
    // Only API routes are request metrics; a request keeps the route it started with.
    on("request:start", (e) => {
      const route = metricRoute(e.route);
      if (route) requests.requestStarted({ ...e, route });
    });
    on("request:admitted", (e) => {
      const route = metricRoute(e.route);
      if (route) requests.requestAdmitted({ ...e, route });
    });
    on("request:first-token", (e) => {
      const route = metricRoute(e.route);
      if (route) requests.firstToken({ ...e, route });
    });
    on("request:tokens", (e) => requests.tokens(e));
    on("request:end", (e) => {
      const route = metricRoute(e.route);
      if (route) requests.requestEnded({ ...e, route });
    });
    on("runner:start", (e) => requests.runnerStarted(e));
    on("runner:restart", (e) => requests.runnerRestarted(e));
    on("runner:kill", (e) => requests.runnerKilled(e));
  }
}
