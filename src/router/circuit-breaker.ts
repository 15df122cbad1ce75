/**
 * A circuit breaker per upstream: after `failureThreshold` consecutive failures
 * (timeouts, connection errors, 5xx, 429) it opens and requests skip the
 * upstream for `openMs`; then it lets `halfOpenProbes` requests through, closing
 * on a success and opening again on a failure.
 */
export type BreakerState = "closed" | "open" | "half_open";

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. Default 3. */
  failureThreshold?: number;
  /** Milliseconds the breaker stays open before probing. Default 30000. */
  openMs?: number;
  /** Requests allowed through at once while half-open. Default 1. */
  halfOpenProbes?: number;
  now?: () => number;
  onStateChange?: (state: BreakerState) => void;
}

export class CircuitBreaker {
  private stateValue: BreakerState = "closed";
  private failures = 0;
  private openedAt = 0;
  private probesInFlight = 0;
  private readonly failureThreshold: number;
  private readonly openMs: number;
  private readonly halfOpenProbes: number;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 3;
    this.openMs = options.openMs ?? 30_000;
    this.halfOpenProbes = options.halfOpenProbes ?? 1;
    this.now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.stateValue === "open" && this.now() - this.openedAt >= this.openMs) this.transition("half_open");
    return this.stateValue;
  }

  /** Milliseconds until an open breaker will probe again (0 when not open). */
  get retryInMs(): number {
    return this.state === "open" ? Math.max(0, this.openMs - (this.now() - this.openedAt)) : 0;
  }

  /**
   * Asks to send a request. Returns false when the breaker is open (or half-open
   * with its probes taken). When it returns true, report the outcome with
   * `succeeded()` or `failed()` exactly once.
   */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "half_open" && this.probesInFlight < this.halfOpenProbes) {
      this.probesInFlight++;
      return true;
    }
    return false;
  }

  succeeded(): void {
    if (this.stateValue === "half_open") this.probesInFlight = Math.max(0, this.probesInFlight - 1);
    this.failures = 0;
    if (this.stateValue !== "closed") this.transition("closed");
  }

  failed(): void {
    if (this.stateValue === "half_open") {
      this.probesInFlight = Math.max(0, this.probesInFlight - 1);
      this.open();
      return;
    }
    this.failures++;
    if (this.stateValue === "closed" && this.failures >= this.failureThreshold) this.open();
  }

  /** Releases an acquired request that ended without telling anything about the upstream (e.g. the client left). */
  released(): void {
    if (this.stateValue === "half_open") this.probesInFlight = Math.max(0, this.probesInFlight - 1);
  }

  private open(): void {
    this.openedAt = this.now();
    this.failures = 0;
    this.transition("open");
  }

  private transition(state: BreakerState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    if (state !== "half_open") this.probesInFlight = 0;
    this.options.onStateChange?.(state);
  }
}
