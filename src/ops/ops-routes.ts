/**
 * The ops HTTP surface: `GET /metrics` (Prometheus) and the admin API an
 * operator (or `edgelm admin`) uses to do by hand what policies do — swap a
 * model's variant, add or remove a runner, set routing weights, fire an alert
 * — and to read the policy engine's state. Authenticated like every API route
 * (`/metrics` can be made public with metrics.public). Errors use the OpenAI
 * error shape. See docs/policies.md and docs/metrics.md.
 */
import type { FastifyInstance } from "fastify";
import { EdgeError } from "../errors.js";
import { logger } from "../log.js";
import type { ServedModelStatus } from "../scheduler/served-model.js";
import { scopeOf } from "../server/app.js";
import { parseBody } from "../server/request-validation.js";
import { adapterSpec } from "../server/served-model-specs.js";
import { ModelStore } from "../store/model-store.js";
import { addAdapterBody, alertBody, removeRunnerBody, runnerBody, swapBody, weightsBody, type AdminAnswers, type AdminModel } from "./admin-contract.js";
import type { GatewayOps } from "./gateway-ops.js";
import { swapTarget, type SwapTargets } from "./swap-target.js";

/** A model's status as the admin API shows it (with its weight type up front). */
function modelJson(status: ServedModelStatus): AdminModel {
  return {
    name: status.name,
    ref: status.ref,
    path: status.path,
    state: status.state,
    ...(status.reason ? { reason: status.reason } : {}),
    quantization: status.info?.quantization ?? status.summary?.predominantType ?? null,
    parallel: status.parallel,
    context_size: status.info?.contextSize ?? null,
    sha256: status.sha256 ?? null,
    runners: status.runners,
    queue: status.queue,
    adapters: status.adapters ?? [],
  };
}

/** Adds /metrics (when metrics are enabled) and /admin/* to `app`; every action goes through the gateway's public operations. */
export function registerOpsRoutes(app: FastifyInstance, ops: GatewayOps): void {
  const gateway = ops.gateway;
  const metrics = ops.metrics;
  const status = (name: string): ServedModelStatus => gateway.status(name);
  const store = ModelStore.open(ops.config);
  const swapTargets = (): SwapTargets => ({
    variants: ops.variants,
    storeHas: (name) => store.get(name) !== undefined,
    configured: [...ops.config.server.models.map((m) => m.ref), ...gateway.models().map((m) => m.ref)].filter((ref): ref is string => ref !== undefined),
  });

  if (metrics) {
    app.get("/metrics", async (request, reply) => {
      const text = await metrics.render();
      scopeOf(request, "metrics").end({ status: 200 });
      return reply.type(metrics.contentType).send(text);
    });
  }

  app.get("/admin/policies", async (request): Promise<AdminAnswers["policies"]> => {
    scopeOf(request, "admin.policies").end({ status: 200 });
    return ops.policies.status();
  });

  app.get("/admin/models", async (request): Promise<AdminAnswers["models"]> => {
    scopeOf(request, "admin.models").end({ status: 200 });
    return { models: gateway.models().map(modelJson) };
  });

  app.post("/admin/swap", async (request): Promise<AdminAnswers["swap"]> => {
    const scope = scopeOf(request, "admin.swap");
    const body = parseBody(swapBody, request.body);
    const before = status(body.model);
    const fromQuant = before.info?.quantization ?? before.summary?.predominantType ?? "?";
    const ref = body.to === undefined ? undefined : swapTarget(body.to, before, swapTargets());
    logger.info(`admin: swap ${before.name} to ${ref ?? before.ref}${body.parallel ? ` with parallel ${body.parallel}` : ""}`, { kind: "admin_action" });
    await gateway.swapModel(
      body.model,
      { ...(ref !== undefined ? { ref } : {}), ...(body.parallel !== undefined ? { parallel: body.parallel } : {}) },
      body.mode ? { mode: body.mode } : {},
    );
    const after = status(body.model);
    scope.end({ status: 200 });
    return {
      model: modelJson(after),
      from: `${before.ref} (${fromQuant}, parallel ${before.parallel})`,
      to: `${after.ref} (${after.info?.quantization ?? after.summary?.predominantType ?? "?"}, parallel ${after.parallel})`,
    };
  });

  app.post("/admin/runners/add", async (request): Promise<AdminAnswers["addRunner"]> => {
    const scope = scopeOf(request, "admin.runners.add");
    const body = parseBody(runnerBody, request.body);
    logger.info(`admin: add a runner to ${body.model}`, { kind: "admin_action" });
    const runner = await gateway.addRunner(body.model);
    scope.end({ status: 200 });
    return { runner, model: modelJson(status(body.model)) };
  });

  app.post("/admin/runners/remove", async (request): Promise<AdminAnswers["removeRunner"]> => {
    const scope = scopeOf(request, "admin.runners.remove");
    const body = parseBody(removeRunnerBody, request.body);
    logger.info(`admin: remove a runner of ${body.model}${body.runner ? ` (${body.runner})` : ""}`, { kind: "admin_action" });
    await gateway.removeRunner(body.model, body.runner);
    scope.end({ status: 200 });
    return { model: modelJson(status(body.model)) };
  });

  app.post("/admin/models/:name/adapters", async (request): Promise<AdminAnswers["adapters"]> => {
    const scope = scopeOf(request, "admin.adapters.add");
    const model = (request.params as { name: string }).name;
    const body = parseBody(addAdapterBody, request.body);
    status(model);
    const adapter = adapterSpec(body, model, ops.config);
    logger.info(`admin: add adapter ${adapter.name} (${adapter.ref}) to ${model}`, { kind: "admin_action" });
    const swap = await gateway.addAdapter(model, adapter);
    scope.end({ status: 200 });
    return { model: modelJson(status(model)), adapter: adapter.name, swap_ms: Math.round(swap.durationMs) };
  });

  app.delete("/admin/models/:name/adapters/:adapter", async (request): Promise<AdminAnswers["adapters"]> => {
    const scope = scopeOf(request, "admin.adapters.remove");
    const { name: model, adapter } = request.params as { name: string; adapter: string };
    status(model);
    logger.info(`admin: remove adapter ${adapter} from ${model}`, { kind: "admin_action" });
    const swap = await gateway.removeAdapter(model, adapter);
    scope.end({ status: 200 });
    return { model: modelJson(status(model)), adapter, swap_ms: Math.round(swap.durationMs) };
  });

  const router = (): NonNullable<GatewayOps["router"]> => {
    if (!ops.router) throw new EdgeError("unsupported", "this gateway routes nothing to peers or the cloud (configure router.peers or router.cloud)");
    return ops.router;
  };
  app.get("/admin/routing/weights", async (request): Promise<AdminAnswers["weights"]> => {
    const r = router();
    scopeOf(request, "admin.routing").end({ status: 200 });
    return { weights: r.getWeights(), peers: r.peerCount };
  });
  app.put("/admin/routing/weights", async (request): Promise<AdminAnswers["weights"]> => {
    const scope = scopeOf(request, "admin.routing");
    const r = router();
    const body = parseBody(weightsBody, request.body);
    logger.info(`admin: routing weights ${JSON.stringify(body)}`, { kind: "admin_action" });
    r.setWeights(body);
    scope.end({ status: 200 });
    return { weights: r.getWeights(), peers: r.peerCount };
  });

  app.get("/admin/alerts", async (request): Promise<AdminAnswers["alerts"]> => {
    scopeOf(request, "admin.alerts").end({ status: 200 });
    return { alerts: ops.alerts.active(), sinks: ops.alerts.sinks.map((s) => s.name) };
  });
  app.post("/admin/alerts", async (request): Promise<AdminAnswers["alert"]> => {
    const scope = scopeOf(request, "admin.alerts");
    const body = parseBody(alertBody, request.body);
    const labels = { ...body.labels, source: "edgelm-admin" };
    let changed: boolean;
    if (body.resolve) {
      changed = await ops.alerts.resolve(body.name, labels);
    } else {
      changed = await ops.alerts.fire({
        name: body.name,
        summary: body.summary!,
        ...(body.severity ? { severity: body.severity } : {}),
        labels,
      });
    }
    scope.end({ status: 200 });
    return { name: body.name, status: body.resolve ? "resolved" : "firing", changed };
  });
}
