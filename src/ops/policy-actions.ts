/**
 * What each policy action does. An action first plans against the current
 * state — it either does not apply (with the reason, e.g. "no core free") or
 * returns what it would do and how — so a rule can fall through its
 * alternatives and a dry run can say what would have happened.
 */
import type { PoliciesConfig, PolicyActionName, PolicyRule } from "../config/sections/policies.js";
import { EdgeError, isEdgeError, TRUST_REFUSAL_CODES, type ErrorCode } from "../errors.js";
import type { AlertDispatcher } from "./alert-dispatcher.js";
import type { ResourceSnapshot } from "./resource-sampler.js";
import { describeCondition } from "./rule-tracker.js";
import type { GatewayOperations, ModelVariant, RouteWeightControl, ServedModelView, VariantFinder } from "./policy-target.js";

export interface PolicyContext {
  config: PoliciesConfig;
  alerts: AlertDispatcher;
  gateway: GatewayOperations | undefined;
  router: RouteWeightControl | undefined;
  variants: VariantFinder | undefined;
  /** The latest resource sample (memory, runner RSS). */
  resources: () => ResourceSnapshot | undefined;
  cores: number;
}

export type ActionPlan =
  | { applicable: false; reason: string }
  | {
      applicable: true;
      /** What it will do, in words (also what a dry run reports). */
      describe: string;
      /** Does it; resolves with what was done. */
      run(): Promise<string>;
      /** Undoes it when the rule clears (shift_to_peer restores the weights; alert resolves). */
      onClear?: () => Promise<string>;
    };

export type ActionPlanner = (rule: PolicyRule, value: number, context: PolicyContext) => ActionPlan;

const notApplicable = (reason: string): ActionPlan => ({ applicable: false, reason });

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

function serving(gateway: GatewayOperations): ServedModelView[] {
  return gateway.models().filter((m) => m.state === "ready");
}

/** Why nothing can be acted on: no gateway, or no model serving yet. */
function nothingServing(context: PolicyContext): string | undefined {
  if (!context.gateway) return "no gateway to act on";
  return serving(context.gateway).length === 0 ? "no model is serving" : undefined;
}

function load(model: ServedModelView): number {
  return model.queue.inFlight + model.queue.waiting;
}

function activeRunners(model: ServedModelView): ServedModelView["runners"] {
  return model.runners.filter((r) => !r.draining);
}

/** Resident memory of the model's largest runner, else its file size (what one more runner needs). */
function runnerFootprint(model: ServedModelView, snapshot: ResourceSnapshot | undefined): number {
  const rss = snapshot?.runners.filter((r) => r.model === model.name && r.rssBytes !== undefined).map((r) => r.rssBytes!) ?? [];
  return rss.length > 0 ? Math.max(...rss) : model.fileSize;
}

/** Whether `bytes` more fit while leaving the configured reserve free; the reason when not. */
function memoryFits(bytes: number, context: PolicyContext): { fits: boolean; reason: string } {
  const snapshot = context.resources();
  if (!snapshot) return { fits: false, reason: "no memory reading yet" };
  const { totalBytes, availableBytes } = snapshot.memory;
  const reserve = (context.config.memory_reserve_percent / 100) * totalBytes;
  const left = availableBytes - bytes;
  return left >= reserve
    ? { fits: true, reason: `${gib(bytes)} fits in ${gib(availableBytes)} available` }
    : { fits: false, reason: `needs ${gib(bytes)} but only ${gib(availableBytes)} is available and ${gib(reserve)} must stay free` };
}

function quantizationOf(model: ServedModelView): string | undefined {
  return model.info?.quantization ?? model.summary?.predominantType;
}

const addRunner: ActionPlanner = (_rule, _value, context) => {
  const idle = nothingServing(context);
  if (idle) return notApplicable(idle);
  const gateway = context.gateway!;
  const models = serving(gateway);
  const busiest = [...models].sort((a, b) => load(b) - load(a))[0];
  if (!busiest || load(busiest) === 0) return notApplicable("no model has requests in flight");
  const threadsOf = (m: ServedModelView): number => m.info?.threads.decode ?? 1;
  const used = models.reduce((sum, m) => sum + activeRunners(m).length * threadsOf(m), 0);
  const needed = threadsOf(busiest);
  if (used + needed > context.cores) {
    return notApplicable(`no core free: runners use ${used} of ${context.cores} cores and one more needs ${needed}`);
  }
  const footprint = runnerFootprint(busiest, context.resources());
  const memory = memoryFits(footprint, context);
  if (!memory.fits) return notApplicable(`not enough memory for another ${busiest.name} runner: ${memory.reason}`);
  const runners = activeRunners(busiest).length;
  return {
    applicable: true,
    describe: `add a runner to ${busiest.name} (${runners} → ${runners + 1}; ${load(busiest)} requests in flight or queued; ${memory.reason})`,
    run: async () => {
      await gateway.addRunner(busiest.name);
      return `added a runner to ${busiest.name} (now ${runners + 1})`;
    },
  };
};

const removeRunner: ActionPlanner = (_rule, _value, context) => {
  const idle = nothingServing(context);
  if (idle) return notApplicable(idle);
  const gateway = context.gateway!;
  const candidate = serving(gateway)
    .filter((m) => activeRunners(m).length > 1)
    .sort((a, b) => activeRunners(b).length - activeRunners(a).length || load(a) - load(b))[0];
  if (!candidate) return notApplicable("no model has more than one runner");
  const runners = activeRunners(candidate).length;
  return {
    applicable: true,
    describe: `remove the least busy runner of ${candidate.name} (${runners} → ${runners - 1})`,
    run: async () => {
      await gateway.removeRunner(candidate.name);
      return `removed a runner of ${candidate.name} (now ${runners - 1})`;
    },
  };
};

const shiftToPeer: ActionPlanner = (_rule, _value, context) => {
  const router = context.router;
  if (!router) return notApplicable("no router configured");
  if (router.peerCount === 0) return notApplicable("no peer gateway configured (router.peers)");
  const share = context.config.peer_share;
  const before = router.getWeights();
  if (before.peer >= share) return notApplicable(`already sending ${Math.round(before.peer * 100)}% of new requests to peers`);
  const pct = (x: number): string => `${Math.round(x * 100)}%`;
  return {
    applicable: true,
    describe: `send ${pct(share)} of new requests to peers (was ${pct(before.peer)})`,
    run: async () => {
      router.setWeights({ peer: share });
      return `sending ${pct(share)} of new requests to peers (was ${pct(before.peer)})`;
    },
    onClear: async () => {
      router.setWeights({ peer: before.peer });
      return `peer share back to ${pct(before.peer)}`;
    },
  };
};

/** The model under the most memory with a lower variant, and its variants nearest first. */
function swapCandidate(context: PolicyContext): { model: ServedModelView; variants: ModelVariant[] } | { reason: string } {
  const idle = nothingServing(context);
  if (idle) return { reason: idle };
  const gateway = context.gateway!;
  if (!context.variants) return { reason: "no model store to find variants in" };
  const snapshot = context.resources();
  const footprint = (m: ServedModelView): number => activeRunners(m).length * runnerFootprint(m, snapshot);
  const candidates = serving(gateway)
    .map((model) => ({ model, variants: context.variants!.lowerVariants({ ref: model.ref, path: model.path, quantization: quantizationOf(model) }) }))
    .filter((c) => c.variants.length > 0)
    .sort((a, b) => footprint(b.model) - footprint(a.model));
  if (candidates.length > 0) return candidates[0]!;
  const names = serving(gateway).map((m) => `${m.name} (${quantizationOf(m) ?? "?"})`);
  return { reason: `no lower-precision variant in the store for ${names.join(", ") || "any served model"}` };
}

const swapLowerPrecision: ActionPlanner = (_rule, _value, context) => {
  const candidate = swapCandidate(context);
  if ("reason" in candidate) return notApplicable(candidate.reason);
  const { model, variants } = candidate;
  const gateway = context.gateway!;
  const from = quantizationOf(model) ?? "?";
  const fit = memoryFits(variants[0]!.sizeBytes, context);
  // DESIGN: load the smaller variant beside the old one only if it fits; else drain, unload, load.
  const mode = fit.fits ? "overlap" : "drain-first";
  return {
    applicable: true,
    describe: `swap ${model.name} from ${from} to ${variants[0]!.quantization} (${variants[0]!.ref}), ${mode}`,
    run: async () => {
      const refused: string[] = [];
      let code: ErrorCode = "untrusted_signer";
      for (const variant of variants) {
        try {
          await gateway.swapModel(model.name, { ref: variant.ref }, { mode });
          return `swapped ${model.name} from ${from} to ${variant.quantization} (${variant.ref}), ${mode}${refused.length ? `; refused: ${refused.join("; ")}` : ""}`;
        } catch (error) {
          // A trust refusal: the next variant may still pass.
          if (!isEdgeError(error) || !TRUST_REFUSAL_CODES.has(error.code)) throw error;
          code = error.code;
          refused.push(`${variant.ref}: ${error.message}`);
        }
      }
      throw new EdgeError(code, `every lower variant of ${model.name} was refused by the trust policy: ${refused.join("; ")}`);
    },
  };
};

const lowerParallelism: ActionPlanner = (_rule, _value, context) => {
  const idle = nothingServing(context);
  if (idle) return notApplicable(idle);
  const gateway = context.gateway!;
  const model = serving(gateway)
    .filter((m) => m.parallel > 1)
    .sort((a, b) => b.parallel - a.parallel || load(b) - load(a))[0];
  if (!model) return notApplicable("every model already decodes one sequence at a time");
  const parallel = Math.max(1, Math.floor(model.parallel / 2));
  const fit = memoryFits(runnerFootprint(model, context.resources()), context);
  const mode = fit.fits ? "overlap" : "drain-first";
  return {
    applicable: true,
    describe: `lower ${model.name}'s parallel sequences ${model.parallel} → ${parallel} (${mode})`,
    run: async () => {
      await gateway.swapModel(model.name, { parallel }, { mode });
      return `${model.name} now decodes ${parallel} sequences at a time (was ${model.parallel})`;
    },
  };
};

/** The alert a rule fires: `Edgelm` + the rule name in CamelCase, e.g. EdgelmMemoryHigh. */
export function alertNameFor(rule: Pick<PolicyRule, "name">): string {
  return `Edgelm${rule.name.replace(/(^|_)([a-z0-9])/g, (_m, _sep, c: string) => c.toUpperCase())}`;
}

const alert: ActionPlanner = (rule, value, context) => {
  const name = alertNameFor(rule);
  const labels = { rule: rule.name, metric: rule.metric, source: "edgelm-policy" };
  const summary = rule.summary ?? `${describeCondition(rule)} (now ${Number(value.toFixed(3))})`;
  return {
    applicable: true,
    describe: `fire alert ${name}: ${summary}`,
    run: async () => {
      const fresh = await context.alerts.fire({ name, severity: rule.severity, summary, labels, value });
      return fresh ? `alert ${name} firing` : `alert ${name} still firing`;
    },
    onClear: async () => {
      await context.alerts.resolve(name, labels);
      return `alert ${name} resolved`;
    },
  };
};

export const POLICY_ACTION_PLANNERS: Record<PolicyActionName, ActionPlanner> = {
  alert,
  add_runner: addRunner,
  remove_runner: removeRunner,
  shift_to_peer: shiftToPeer,
  swap_lower_precision: swapLowerPrecision,
  lower_parallelism: lowerParallelism,
};
