/**
 * The admin API's wire contract (/admin/*): the zod schemas the routes
 * (ops-routes.ts) validate request bodies with, and the types of those bodies
 * and of the answers, inferred or written once here and used by both the
 * routes and AdminClient. Change the wire format here and both ends follow.
 */
import { z } from "zod";
import type { RolloutReport, RunnerStatus } from "../scheduler/served-model.js";
import type { PolicyStatus } from "./policy-engine.js";

const modelName = z.string().min(1);
export const swapBody = z
  .object({
    model: modelName,
    /** A model reference, or the precision of a stored variant of the model (e.g. "q4_0"). */
    to: z.string().min(1).optional(),
    parallel: z.number().int().min(1).max(256).optional(),
    mode: z.enum(["overlap", "drain-first"]).optional(),
  })
  .strict()
  .refine((b) => b.to !== undefined || b.parallel !== undefined, { message: "say what to swap to: `to` (a variant or reference) or `parallel`" });
export const runnerBody = z.object({ model: modelName }).strict();
/** An adapter to add: a store adapter entry (never a file path from a request), named for requests (default: its name). */
export const addAdapterBody = z
  .object({
    ref: z.string().min(1),
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits and . _ - only").optional(),
    scale: z.number().min(-100).max(100).optional(),
  })
  .strict();
export const removeRunnerBody = z.object({ model: modelName, runner: z.string().min(1).optional() }).strict();
const share = z.number().min(0).max(1);
export const weightsBody = z
  .object({ peer: share.optional(), cloud: share.optional() })
  .strict()
  .refine((b) => b.peer !== undefined || b.cloud !== undefined, { message: "give peer and/or cloud (shares 0-1)" });
const labelName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "label names are letters, digits and _");
export const alertBody = z
  .object({
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "alert names are letters, digits and _"),
    summary: z.string().min(1).max(1000).optional(),
    severity: z.enum(["info", "warning", "critical"]).optional(),
    labels: z.record(labelName, z.string()).optional(),
    resolve: z.boolean().optional(),
  })
  .strict()
  .refine((b) => b.resolve === true || b.summary !== undefined, { message: "`summary` is required to fire an alert", path: ["summary"] });

export const rolloutCheckBody = z.object({ model: modelName.optional() }).strict();
export const rollbackBody = z.object({ model: modelName }).strict();

/** POST /admin/swap */
export type SwapCommand = z.infer<typeof swapBody>;
/** POST /admin/runners/add */
export type AddRunnerCommand = z.infer<typeof runnerBody>;
/** POST /admin/runners/remove */
export type RemoveRunnerCommand = z.infer<typeof removeRunnerBody>;
/** POST /admin/models/:name/adapters */
export type AddAdapterCommand = z.infer<typeof addAdapterBody>;
/** PUT /admin/routing/weights */
export type WeightsCommand = z.infer<typeof weightsBody>;
/** POST /admin/rollout/check */
export type RolloutCheckCommand = z.infer<typeof rolloutCheckBody>;
/** POST /admin/alerts */
export type AlertCommand = z.infer<typeof alertBody>;

/** A served model as the admin API shows it (weight type up front). */
export interface AdminModel {
  name: string;
  ref: string;
  path: string;
  state: string;
  reason?: string;
  quantization: string | null;
  parallel: number;
  context_size: number | null;
  sha256: string | null;
  runners: RunnerStatus[];
  queue: { waiting: number; limit: number; inFlight: number; capacity: number };
  /** Adapters requests may select, in load order. */
  adapters: string[];
}

/** The answers, route by route. */
export interface AdminAnswers {
  policies: PolicyStatus;
  models: { models: AdminModel[] };
  swap: { model: AdminModel; from: string; to: string };
  addRunner: { runner: RunnerStatus; model: AdminModel };
  removeRunner: { model: AdminModel };
  /** POST and DELETE /admin/models/:name/adapters: the model after the switch, and how long it took. */
  adapters: { model: AdminModel; adapter: string; swap_ms: number };
  weights: { weights: { peer: number; cloud: number }; peers: number };
  alert: { name: string; status: "firing" | "resolved"; changed: boolean };
  alerts: { alerts: unknown[]; sinks: string[] };
  rollout: { models: Array<{ model: string } & RolloutReport> };
  rolloutCheck: { checks: Array<{ model: string; result: string; digest?: string; detail: string }> };
  rollback: { model: string; rollout: RolloutReport };
}
