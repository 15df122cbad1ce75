/**
 * Rollouts on one gateway: a ModelFollower for every served model with
 * `follow:`, their metrics and alerts (rollout-metrics.ts), and the admin
 * routes — `GET /admin/rollout` (each follower's report), `POST
 * /admin/rollout/check` (check now; answers once any new version is in or
 * refused) and `POST /admin/rollout/rollback` (the previous version again).
 * The composition root attaches it after ops and starts it after listen().
 */
import type { FastifyInstance } from "fastify";
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import { rollbackBody, rolloutCheckBody, type AdminAnswers } from "../ops/admin-contract.js";
import type { MetricsRegistry } from "../ops/metrics-registry.js";
import type { GatewayEvents } from "../scheduler/gateway-events.js";
import type { ModelPool } from "../scheduler/model-pool.js";
import { scopeOf } from "../server/app.js";
import { parseBody } from "../server/request-validation.js";
import { ModelFollower } from "./model-follower.js";
import { RolloutMetrics, type RolloutAlerts } from "./rollout-metrics.js";

/** What a rollout attaches to (Gateway is one). */
export interface RolloutHost {
  readonly app: FastifyInstance;
  readonly events: GatewayEvents;
  localNames(): string[];
  findLocal(name: string): ModelPool | undefined;
}

export interface RolloutOptions {
  metrics?: MetricsRegistry;
  alerts?: RolloutAlerts;
}

export class FleetRollout {
  private readonly followers = new Map<string, ModelFollower>();

  private constructor(host: RolloutHost, config: Config, options: RolloutOptions) {
    const recorder = new RolloutMetrics(options.metrics, options.alerts, () => [...this.followers].map(([model, f]) => ({ model, report: f.report() })));
    for (const name of host.localNames()) {
      const pool = host.findLocal(name)!;
      if (pool.follow === undefined) continue;
      const onCrash = (listener: () => void): (() => void) => {
        const onExit = (e: { model: string; expected: boolean }): void => {
          if (e.model === name && !e.expected) listener();
        };
        host.events.on("runner:exit", onExit);
        return () => host.events.off("runner:exit", onExit);
      };
      this.followers.set(name, new ModelFollower(pool, config, pool.follow, recorder, onCrash));
    }
  }

  /** Creates followers for the host's followed models and adds the admin routes (before listen()). */
  static attach(host: RolloutHost, config: Config, options: RolloutOptions = {}): FleetRollout {
    const rollout = new FleetRollout(host, config, options);
    rollout.registerRoutes(host.app);
    return rollout;
  }

  /** Starts every follower's polling. */
  start(): void {
    for (const follower of this.followers.values()) follower.start();
  }

  stop(): void {
    for (const follower of this.followers.values()) follower.stop();
  }

  private follower(name: string): ModelFollower {
    const follower = this.followers.get(name) ?? [...this.followers].find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
    if (!follower) {
      throw new EdgeError("model_not_found", `model "${name}" follows no registry tag here (followed: ${[...this.followers.keys()].join(", ") || "none"})`, { param: "model" });
    }
    return follower;
  }

  private registerRoutes(app: FastifyInstance): void {
    app.get("/admin/rollout", async (request): Promise<AdminAnswers["rollout"]> => {
      scopeOf(request, "admin.rollout").end({ status: 200 });
      return { models: [...this.followers].map(([model, f]) => ({ model, ...f.report() })) };
    });
    app.post("/admin/rollout/check", async (request): Promise<AdminAnswers["rolloutCheck"]> => {
      const scope = scopeOf(request, "admin.rollout");
      const body = parseBody(rolloutCheckBody, request.body ?? {});
      const names = body.model !== undefined ? [body.model] : [...this.followers.keys()];
      const followers = names.map((n) => [n, this.follower(n)] as const);
      const checks = await Promise.all(followers.map(async ([model, f]) => ({ model, ...(await f.check()) })));
      scope.end({ status: 200 });
      return { checks };
    });
    app.post("/admin/rollout/rollback", async (request): Promise<AdminAnswers["rollback"]> => {
      const scope = scopeOf(request, "admin.rollout");
      const body = parseBody(rollbackBody, request.body);
      const rollout = await this.follower(body.model).rollback();
      scope.end({ status: 200 });
      return { model: body.model, rollout };
    });
  }
}
