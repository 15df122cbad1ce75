/**
 * What followers report, as Prometheus series (`edgelm_rollout_*`) and
 * alerts through the gateway's alert sinks: a refused digest (failed pull
 * checks or health gate) fires `EdgelmRolloutRefused`, an automatic or
 * operator rollback fires `EdgelmRolloutRolledBack`; both resolve once a new
 * version of that model goes live. See docs/fleet.md.
 */
import { Counter, Gauge } from "prom-client";
import { logger } from "../log.js";
import type { AlertInput } from "../ops/alert-dispatcher.js";
import type { MetricsRegistry } from "../ops/metrics-registry.js";
import type { SwapResult } from "../scheduler/model-pool.js";
import type { RolloutReport } from "../scheduler/served-model.js";
import type { RolloutRecorder } from "./model-follower.js";

/** The alert dispatcher's two calls a rollout uses. */
export interface RolloutAlerts {
  fire(input: AlertInput): Promise<boolean>;
  resolve(name: string, labels?: Record<string, string>): Promise<boolean>;
}

const ROLLOUT_STATES = ["idle", "pulling", "gating", "switching", "observing", "published", "rolled_back", "failed"];

export class RolloutMetrics implements RolloutRecorder {
  private readonly checks: Counter<"model" | "result"> | undefined;
  private readonly switches: Counter<"model" | "mode"> | undefined;
  private readonly unavailable: Counter<"model"> | undefined;
  private readonly lastUnavailable: Gauge<"model"> | undefined;
  private readonly refusals: Counter<"model"> | undefined;
  private readonly rollbacks: Counter<"model" | "by"> | undefined;
  private readonly publications: Counter<"model" | "tag"> | undefined;
  /** Alerts firing per model, to resolve when a new version goes live. */
  private readonly firing = new Map<string, Array<{ name: string; labels: Record<string, string> }>>();

  constructor(
    metrics: MetricsRegistry | undefined,
    private readonly alerts: RolloutAlerts | undefined,
    reports: () => Array<{ model: string; report: RolloutReport }>,
  ) {
    if (!metrics) return;
    const registers = [metrics.registry];
    this.checks = new Counter({ name: "edgelm_rollout_checks_total", help: "Checks of the followed tag, by result (unchanged, new, refused, waiting, error).", labelNames: ["model", "result"], registers });
    this.switches = new Counter({ name: "edgelm_rollout_switches_total", help: "Versions switched to (new ones and rollbacks), by swap mode (overlap, drain-first).", labelNames: ["model", "mode"], registers });
    this.unavailable = new Counter({ name: "edgelm_rollout_unavailable_seconds_total", help: "Time without a runner taking new requests during rollout swaps (0 when both versions fit).", labelNames: ["model"], registers });
    this.lastUnavailable = new Gauge({ name: "edgelm_rollout_last_unavailable_seconds", help: "Time without a runner during the last rollout swap.", labelNames: ["model"], registers });
    this.refusals = new Counter({ name: "edgelm_rollout_refused_total", help: "New digests refused: failed the health gate, or refused by the trust path.", labelNames: ["model"], registers });
    this.rollbacks = new Counter({ name: "edgelm_rollout_rollbacks_total", help: "Rollbacks to the previous version, by who (watch: a crash or failed smoke run after the switch; operator).", labelNames: ["model", "by"], registers });
    this.publications = new Counter({ name: "edgelm_rollout_published_total", help: "Healthy tags pushed for the next wave.", labelNames: ["model", "tag"], registers });
    new Gauge({
      name: "edgelm_rollout_state",
      help: "Each followed model's rollout state (1 for the current one): idle, pulling, gating, switching, observing, published, rolled_back, failed.",
      labelNames: ["model", "state", "digest", "version", "group"],
      registers,
      collect() {
        this.reset();
        for (const { model, report } of reports()) {
          for (const state of ROLLOUT_STATES) {
            this.set({ model, state, digest: report.digest, version: report.version, group: report.group ?? "" }, state === report.state ? 1 : 0);
          }
        }
      },
    });
    new Gauge({
      name: "edgelm_rollout_last_check_timestamp_seconds",
      help: "When the followed tag was last checked (Unix time).",
      labelNames: ["model"],
      registers,
      collect() {
        this.reset();
        for (const { model, report } of reports()) if (report.lastCheckAt) this.set({ model }, Date.parse(report.lastCheckAt) / 1000);
      },
    });
  }

  checked(model: string, result: "unchanged" | "new" | "refused" | "waiting" | "error"): void {
    this.checks?.inc({ model, result });
  }

  switched(model: string, result: SwapResult): void {
    this.switches?.inc({ model, mode: result.mode });
    this.unavailable?.inc({ model }, result.unavailableMs / 1000);
    this.lastUnavailable?.set({ model }, result.unavailableMs / 1000);
  }

  gateFailed(model: string, digest: string, reason: string): void {
    this.refusals?.inc({ model });
    this.fire({ name: "EdgelmRolloutRefused", severity: "warning", summary: `${model}: new version ${digest} refused; the previous version keeps serving`, description: reason, labels: { model, digest } });
  }

  rolledBack(model: string, digest: string, reason: string, by: "watch" | "operator"): void {
    this.rollbacks?.inc({ model, by });
    this.fire({ name: "EdgelmRolloutRolledBack", severity: "warning", summary: `${model}: rolled back from ${digest}`, description: reason, labels: { model, digest } });
  }

  published(model: string, tag: string): void {
    this.publications?.inc({ model, tag });
  }

  recovered(model: string): void {
    for (const alert of this.firing.get(model)?.splice(0) ?? []) void this.alerts?.resolve(alert.name, alert.labels).catch(() => undefined);
  }

  private fire(input: AlertInput & { labels: Record<string, string> }): void {
    if (!this.alerts) return;
    const list = this.firing.get(input.labels.model!) ?? [];
    list.push({ name: input.name, labels: input.labels });
    this.firing.set(input.labels.model!, list);
    this.alerts.fire(input).catch((error: unknown) => logger.warn(`rollout: alert ${input.name} not delivered: ${(error as Error).message}`));
  }
}
