/**
 * What the HTTP layer needs from whoever serves the models — and nothing more:
 * a model directory for the dialects, and the request bookkeeping the app's
 * hooks use (events, shutdown state, in-flight tracking, readiness). `Gateway`
 * implements both; a test or another transport can implement them alone.
 */
import type { GatewayEvents } from "../scheduler/gateway-events.js";
import type { ServedModel, ServedModelStatus } from "../scheduler/served-model.js";
import type { RequestScope } from "./request-scope.js";

/** The served models as a dialect sees them. */
export interface ModelDirectory {
  /** The model serving `name` (also `name:latest`, any case), or model_not_found naming what is served. */
  lookup(name: string): ServedModel;
  /** Every served model's status. */
  models(): ServedModelStatus[];
  /** Resolves once `name` has loaded or failed. */
  whenModelSettled(name: string): Promise<void>;
}

/** What a dialect's routes are given: the models and the per-request deadline. */
export interface DialectHost {
  readonly directory: ModelDirectory;
  /** Per-request deadline in ms (0 = none); server.request_timeout_ms. */
  readonly requestTimeoutMs: number;
}

/** One model's readiness as /ready reports it. */
export interface ModelReadiness {
  name: string;
  state: string;
  reason?: string;
}

/** What the HTTP app itself needs: events to report on, shutdown state, and in-flight tracking. */
export interface AppHost extends DialectHost {
  readonly events: GatewayEvents;
  /** True once shutdown began: new requests get 503 shutting_down. */
  readonly closing: boolean;
  /** Every model's readiness (for /ready). */
  readiness(): Promise<ModelReadiness[]>;
  /** Registers a request in flight (shutdown waits for it, then cancels it). */
  track(scope: RequestScope): void;
  /** The request ended. */
  untrack(scope: RequestScope): void;
}
