/**
 * The policy engine: every `interval_s` it reads each rule's signal, tracks
 * the rule's condition (sustained for `for_s`, cleared with hysteresis), and
 * when a rule fires runs the first of its actions that applies — at most once
 * per `cooldown_s` — through the gateway's public operations. When a rule
 * clears it undoes what should not outlast the condition (load shifted to
 * peers, the alert). Under `dry_run` it only says what it would do.
 *
 * Every decision is logged as one structured line, counted in
 * edgelm_policy_decisions_total, and kept for GET /admin/policies.
 */
import { availableParallelism } from "node:os";
import { Counter, Gauge } from "prom-client";
import type { PoliciesConfig, PolicyActionName, PolicyRule, PolicySignal } from "../config/sections/policies.js";
import { logger } from "../log.js";
import type { AlertDispatcher } from "./alert-dispatcher.js";
import type { MetricsRegistry } from "./metrics-registry.js";
import { POLICY_ACTION_PLANNERS, type ActionPlanner, type PolicyContext } from "./policy-actions.js";
import type { GatewayOperations, RouteWeightControl, VariantFinder } from "./policy-target.js";
import type { ResourceSnapshot } from "./resource-sampler.js";
import { RuleTracker, type RuleStatus } from "./rule-tracker.js";
import type { SignalBoard } from "./signal-board.js";

export type DecisionOutcome = "executed" | "dry_run" | "failed" | "cooldown" | "no_action" | "cleared" | "reverted";

/** One thing the engine decided, as logged and shown at /admin/policies. */
export interface PolicyDecision {
  /** ISO 8601 time the rule decided (an action's outcome is recorded when it ends, with this time). */
  at: string;
  rule: string;
  /** fired: the condition became true (for for_s); refired: still true after the cooldown; cleared: back to normal. */
  event: "fired" | "refired" | "cleared";
  metric: PolicySignal;
  value: number | null;
  op: PolicyRule["op"];
  threshold: number;
  action: PolicyActionName | null;
  outcome: DecisionOutcome;
  detail: string;
  /** Alternatives passed over, each with its reason. */
  skipped: string[];
  dryRun: boolean;
}

export interface RuleState {
  rule: PolicyRule;
  state: RuleStatus | "disabled";
  value: number | null;
  /** ISO time the condition started holding (pending or firing). */
  since: string | null;
  lastFiredAt: string | null;
  /** The last decision that tried an action (or said why none applied). */
  lastAction: PolicyDecision | null;
  cooldownUntil: string | null;
  acting: boolean;
}

export interface PolicyStatus {
  enabled: boolean;
  dryRun: boolean;
  intervalSeconds: number;
  signals: Partial<Record<PolicySignal, number>>;
  rules: RuleState[];
  /** Most recent decisions, newest last. */
  decisions: PolicyDecision[];
}

export interface PolicyEngineOptions {
  config: PoliciesConfig;
  signals: SignalBoard;
  alerts: AlertDispatcher;
  gateway?: GatewayOperations;
  router?: RouteWeightControl;
  variants?: VariantFinder;
  /** The latest resource sample (memory headroom, runner RSS). */
  resources?: () => ResourceSnapshot | undefined;
  metrics?: MetricsRegistry;
  /** CPU cores runners may use. Default os.availableParallelism(). */
  cores?: number;
  /** Clock in ms. Default Date.now. */
  now?: () => number;
  /** Decisions kept for /admin/policies. Default 100. */
  history?: number;
}

interface RuleRuntime {
  tracker: RuleTracker;
  lastFiredAt: number | undefined;
  lastActionAt: number | undefined;
  lastAction: PolicyDecision | undefined;
  acting: Promise<void> | undefined;
  /** Undo steps of executed actions, by action (one each), run when the rule clears. */
  onClear: Map<PolicyActionName, () => Promise<string>>;
}

export class PolicyEngine {
  private readonly rules: RuleRuntime[];
  private readonly context: PolicyContext;
  private readonly history: PolicyDecision[] = [];
  private readonly now: () => number;
  private readonly decisionsTotal: Counter<"rule" | "action" | "outcome"> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly planners: Record<PolicyActionName, ActionPlanner> = POLICY_ACTION_PLANNERS;

  constructor(private readonly options: PolicyEngineOptions) {
    this.now = options.now ?? Date.now;
    this.rules = options.config.rules.map((rule) => ({
      tracker: new RuleTracker(rule),
      lastFiredAt: undefined,
      lastActionAt: undefined,
      lastAction: undefined,
      acting: undefined,
      onClear: new Map(),
    }));
    this.context = {
      config: options.config,
      alerts: options.alerts,
      gateway: options.gateway,
      router: options.router,
      variants: options.variants,
      resources: options.resources ?? (() => undefined),
      cores: options.cores ?? availableParallelism(),
    };
    if (options.metrics) {
      const registers = [options.metrics.registry];
      this.decisionsTotal = new Counter({
        name: "edgelm_policy_decisions_total",
        help: "Policy decisions by rule, action (none when no action applied) and outcome (executed, dry_run, failed, cooldown, no_action, cleared, reverted).",
        labelNames: ["rule", "action", "outcome"],
        registers,
      });
      const rules = this.rules;
      new Gauge({
        name: "edgelm_policy_rule_firing",
        help: "1 while a policy rule is firing, else 0.",
        labelNames: ["rule"],
        registers,
        collect() {
          for (const r of rules) this.set({ rule: r.tracker.rule.name }, r.tracker.status === "firing" ? 1 : 0);
        },
      });
    }
  }

  /** Evaluates now and then every `interval_s` until stop(). Does nothing when policies are disabled. */
  start(): void {
    if (!this.options.config.enabled || this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.options.config.interval_s * 1000);
    this.timer.unref();
    void this.tick();
  }

  /** Stops evaluating and waits for actions under way. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    await this.settled();
  }

  /**
   * Reads every rule's signal once and starts the actions that are due.
   * Actions run in the background (a swap may take a while); see settled().
   */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = this.evaluate().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /** Resolves once no action is running. */
  async settled(): Promise<void> {
    for (;;) {
      const running = this.rules.map((r) => r.acting).filter((p): p is Promise<void> => p !== undefined);
      if (running.length === 0) return;
      await Promise.allSettled(running);
    }
  }

  /** Current state of every rule and the recent decisions (GET /admin/policies). */
  status(): PolicyStatus {
    const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());
    return {
      enabled: this.options.config.enabled,
      dryRun: this.options.config.dry_run,
      intervalSeconds: this.options.config.interval_s,
      signals: this.options.signals.snapshot(),
      rules: this.rules.map((r) => {
        const rule = r.tracker.rule;
        const cooldownEnd = r.lastActionAt === undefined ? undefined : r.lastActionAt + rule.cooldown_s * 1000;
        return {
          rule,
          state: rule.enabled ? r.tracker.status : "disabled",
          value: r.tracker.value ?? null,
          since: iso(r.tracker.since),
          lastFiredAt: iso(r.lastFiredAt),
          lastAction: r.lastAction ?? null,
          cooldownUntil: cooldownEnd !== undefined && cooldownEnd > this.now() ? iso(cooldownEnd) : null,
          acting: r.acting !== undefined,
        };
      }),
      decisions: [...this.history],
    };
  }

  /** Recent decisions, newest last. */
  decisions(): PolicyDecision[] {
    return [...this.history];
  }

  private async evaluate(): Promise<void> {
    for (const runtime of this.rules) {
      const rule = runtime.tracker.rule;
      if (!rule.enabled) continue;
      const now = this.now();
      const value = this.options.signals.read(rule.metric);
      const transition = runtime.tracker.observe(value, now);
      if (transition === "fired") {
        runtime.lastFiredAt = now;
        this.act(runtime, "fired", value!, now);
      } else if (transition === "cleared") {
        this.clear(runtime, value!);
      } else if (runtime.tracker.status === "firing" && value !== undefined && !this.coolingDown(runtime, now)) {
        this.act(runtime, "refired", value, now);
      }
    }
  }

  private coolingDown(runtime: RuleRuntime, now: number): boolean {
    return runtime.lastActionAt !== undefined && now < runtime.lastActionAt + runtime.tracker.rule.cooldown_s * 1000;
  }

  private act(runtime: RuleRuntime, event: "fired" | "refired", value: number, now: number): void {
    if (runtime.acting) return;
    const rule = runtime.tracker.rule;
    const base = { rule: rule.name, event, metric: rule.metric, value, op: rule.op, threshold: rule.threshold };
    if (this.coolingDown(runtime, now)) {
      const until = new Date(runtime.lastActionAt! + rule.cooldown_s * 1000).toISOString();
      this.record({ ...base, action: null, outcome: "cooldown", detail: `in cooldown until ${until}`, skipped: [] });
      return;
    }
    runtime.lastActionAt = now;
    this.track(runtime, this.runActions(runtime, base, now));
  }

  /** Tries the rule's actions in order; decisions carry `decidedAt` (ms), when the rule decided to act. */
  private async runActions(
    runtime: RuleRuntime,
    base: Omit<PolicyDecision, "at" | "action" | "outcome" | "detail" | "skipped" | "dryRun">,
    decidedAt: number,
  ): Promise<void> {
    const rule = runtime.tracker.rule;
    const skipped: string[] = [];
    for (const name of rule.actions) {
      let plan;
      try {
        plan = this.planners[name](rule, base.value!, this.context);
      } catch (error) {
        plan = { applicable: false as const, reason: `could not plan: ${(error as Error).message}` };
      }
      if (!plan.applicable) {
        skipped.push(`${name}: ${plan.reason}`);
        continue;
      }
      if (this.options.config.dry_run) {
        runtime.lastAction = this.record({ ...base, action: name, outcome: "dry_run", detail: `would ${plan.describe}`, skipped }, decidedAt);
        return;
      }
      try {
        const detail = await plan.run();
        if (plan.onClear) runtime.onClear.set(name, plan.onClear);
        runtime.lastAction = this.record({ ...base, action: name, outcome: "executed", detail, skipped }, decidedAt);
        return;
      } catch (error) {
        // A failed alternative (say, a variant that would not load) falls through to the next one.
        const message = (error as Error).message;
        this.record({ ...base, action: name, outcome: "failed", detail: message, skipped: [...skipped] }, decidedAt);
        skipped.push(`${name}: failed: ${message}`);
      }
    }
    runtime.lastAction = this.record({ ...base, action: null, outcome: "no_action", detail: "no action applies", skipped }, decidedAt);
  }

  private clear(runtime: RuleRuntime, value: number): void {
    const rule = runtime.tracker.rule;
    const base = { rule: rule.name, event: "cleared" as const, metric: rule.metric, value, op: rule.op, threshold: rule.threshold, skipped: [] };
    this.record({ ...base, action: null, outcome: "cleared", detail: `${rule.metric} back to ${Number(value.toFixed(3))}` });
    const undo = [...runtime.onClear.entries()];
    runtime.onClear.clear();
    if (undo.length === 0) return;
    // Undo after any action still under way, so a clear cannot race the action it undoes.
    const after = runtime.acting ?? Promise.resolve();
    this.track(
      runtime,
      after.then(async () => {
        for (const [name, step] of undo) {
          try {
            this.record({ ...base, action: name, outcome: "reverted", detail: await step() });
          } catch (error) {
            this.record({ ...base, action: name, outcome: "failed", detail: `undo failed: ${(error as Error).message}` });
          }
        }
      }),
    );
  }

  /** Marks the rule busy until `work` ends (later work replaces earlier work as the marker). */
  private track(runtime: RuleRuntime, work: Promise<void>): void {
    const marker: Promise<void> = work.finally(() => {
      if (runtime.acting === marker) runtime.acting = undefined;
    });
    runtime.acting = marker;
  }

  /** Logs, counts and keeps a decision made at `at` (ms; default now). */
  private record(fields: Omit<PolicyDecision, "at" | "dryRun">, at = this.now()): PolicyDecision {
    const decision: PolicyDecision = { at: new Date(at).toISOString(), ...fields, dryRun: this.options.config.dry_run };
    this.history.push(decision);
    if (this.history.length > (this.options.history ?? 100)) this.history.shift();
    this.decisionsTotal?.inc({ rule: decision.rule, action: decision.action ?? "none", outcome: decision.outcome });
    const level = decision.outcome === "failed" ? "warn" : "info";
    logger[level](`policy ${decision.rule}: ${decision.outcome}${decision.action ? ` ${decision.action}` : ""}: ${decision.detail}`, {
      kind: "policy_decision",
      ...decision,
    });
    return decision;
  }
}
