/**
 * Every request in flight on the gateway, for any transport: opens each
 * request's scope, refuses new ones once shutdown began, and at shutdown waits
 * for the in-flight ones or cancels them. The HTTP app opens a scope per
 * request here; a gRPC service would do the same.
 */
import { EdgeError } from "../errors.js";
import type { GatewayEvents } from "./gateway-events.js";
import { RequestScope, type RequestHeaders } from "./request-scope.js";

export class RequestTracker {
  private readonly active = new Set<RequestScope>();
  private idleWaiters: Array<() => void> = [];
  private closingValue = false;

  constructor(private readonly events: GatewayEvents) {}

  /** True once shutdown began (see close): new requests should be refused with shutting_down. */
  get closing(): boolean {
    return this.closingValue;
  }

  /** Requests in flight. */
  get size(): number {
    return this.active.size;
  }

  /** Opens and tracks the scope of one request (`route` e.g. "POST /v1/chat/completions"; renamed by its handler). */
  open(route: string, headers: RequestHeaders): RequestScope {
    const scope = new RequestScope(this.events, (s) => this.untrack(s), headers, route);
    this.active.add(scope);
    return scope;
  }

  /** The error a request arriving during shutdown gets (503 with Retry-After 1 s). */
  shuttingDown(): EdgeError {
    return new EdgeError("shutting_down", "the gateway is shutting down", { retryAfter: 1 });
  }

  /** Shutdown began: `closing` turns true. */
  beginClose(): void {
    this.closingValue = true;
  }

  /** Cancels every request in flight with `reason`. */
  cancelAll(reason: EdgeError): void {
    for (const scope of this.active) scope.cancel(reason);
  }

  /** Resolves once no request is in flight (at once when none is). */
  whenIdle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private untrack(scope: RequestScope): void {
    this.active.delete(scope);
    if (this.active.size > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
