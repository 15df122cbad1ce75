/**
 * What the HTTP layer needs from whoever serves the models — and nothing more:
 * a model directory for the dialects, and the transport-neutral request
 * tracker the app's hooks open every request's scope with (cancellation,
 * events for metrics, shutdown). `Gateway` implements both; another transport
 * (gRPC) needs the same two and nothing from Fastify.
 */
import type { Config } from "../config/schema.js";
import type { RequestTracker } from "../scheduler/request-tracker.js";
import type { RolloutReport, ServedModel, ServedModelStatus } from "../scheduler/served-model.js";
import type { FieldPolicy } from "./request-validation.js";

/** The served models as a dialect sees them. */
export interface ModelDirectory {
  /** The model serving `name` (also `name:latest`, any case), or model_not_found naming what is served. */
  lookup(name: string): ServedModel;
  /** Every served model's status. */
  models(): ServedModelStatus[];
  /** Resolves once `name` has loaded or failed. */
  whenModelSettled(name: string): Promise<void>;
}

/** What model management (Ollama's /api/pull, /api/create, /api/delete, ...) needs besides the store itself. */
export interface StoreModelHost {
  /** The configuration (the store's home, sources, trust policy, quantizer key). */
  readonly config: Config;
  /** Stops serving a store entry on demand, before it is removed or replaced. */
  forgetStoreModel(reference: string): Promise<void>;
  /** The configured model (server.models) whose reference is this store entry, if any: it cannot be deleted under it. */
  configuredFor(reference: string): string | undefined;
}

/** What a dialect's routes are given: the models, the per-request deadline and the field policy (server.strict_fields). */
export interface DialectHost extends FieldPolicy {
  readonly directory: ModelDirectory;
  /** Model management over the store; absent when the host has no store. */
  readonly storeModels?: StoreModelHost;
  /** Per-request deadline in ms (0 = none); server.request_timeout_ms. */
  readonly requestTimeoutMs: number;
  /** Bounds of the Responses kept for previous_response_id; default 256 entries and 32 MiB. */
  readonly responseStoreLimits?: { entries: number; bytes: number };
}

/** One model's readiness as /ready reports it. */
export interface ModelReadiness {
  name: string;
  state: string;
  reason?: string;
  /** For a model following a registry tag: digest, version and rollout state. */
  rollout?: RolloutReport;
}

/** What the HTTP app itself needs: the request tracker (scopes, shutdown state) and readiness. */
export interface AppHost extends DialectHost {
  readonly requests: RequestTracker;
  /** Every model's readiness (for /ready). */
  readiness(): Promise<ModelReadiness[]>;
}
