/**
 * Admission: a bounded FIFO line in front of a fixed number of slots. A request
 * either takes a free slot at once, waits its turn, or — when the line is full —
 * is refused at once with queue_full and a Retry-After estimate. Never an
 * unbounded wait: the line is bounded and every waiter can be cancelled.
 */
import { EdgeError, isEdgeError } from "../errors.js";

interface Waiter<T> {
  /** What tryTake may use to choose among free slots (e.g. the request's prompt). */
  hint: string | undefined;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export interface AdmissionQueueOptions<T> {
  /** Waiting requests allowed beyond the slots (0 = none may wait). */
  limit: number;
  /** Takes a free slot if there is one (called in FIFO order), choosing by the request's hint when it has one. */
  tryTake: (hint?: string) => T | undefined;
  /** Slots in total, for the Retry-After estimate. */
  capacity: () => number;
  /** Text naming what is full, for the error message (e.g. "model stories"). */
  label: string;
}

/** Smoothing of the mean service time (exponentially weighted). */
const EWMA_WEIGHT = 0.2;

export class AdmissionQueue<T> {
  private readonly waiters: Array<Waiter<T>> = [];
  private limit: number;
  private meanServiceMs = 0;

  constructor(private readonly options: AdmissionQueueOptions<T>) {
    this.limit = options.limit;
  }

  /** Requests waiting in line. */
  get waiting(): number {
    return this.waiters.length;
  }

  get maxWaiting(): number {
    return this.limit;
  }

  /** Changes the line's length; waiters beyond a smaller limit keep their place. */
  setLimit(limit: number): void {
    if (!Number.isInteger(limit) || limit < 0) throw new EdgeError("usage", `the queue limit must be a non-negative integer, got ${limit}`);
    this.limit = limit;
  }

  /** Feeds the Retry-After estimate with how long one request held its slot, in ms. */
  recordService(ms: number): void {
    this.meanServiceMs = this.meanServiceMs === 0 ? ms : this.meanServiceMs * (1 - EWMA_WEIGHT) + ms * EWMA_WEIGHT;
  }

  /**
   * Seconds until a slot is likely free for a newcomer: the line ahead of it
   * served `capacity` at a time at the mean service time. At least 1, at most 60.
   */
  retryAfterSeconds(): number {
    const capacity = Math.max(1, this.options.capacity());
    const estimate = ((this.waiters.length + 1) / capacity) * (this.meanServiceMs / 1000);
    return Math.min(60, Math.max(1, Math.ceil(estimate)));
  }

  /**
   * A slot now (FIFO: only when nobody is waiting), else a place in line, else
   * queue_full at once. A cancelled signal removes the waiter and rejects with
   * the signal's reason when it is an EdgeError (e.g. timeout), else `aborted`.
   */
  acquire(signal?: AbortSignal, hint?: string): Promise<T> {
    if (signal?.aborted) return Promise.reject(reasonOf(signal));
    if (this.waiters.length === 0) {
      const slot = this.options.tryTake(hint);
      if (slot !== undefined) return Promise.resolve(slot);
    }
    if (this.waiters.length >= this.limit) {
      const retryAfter = this.retryAfterSeconds();
      return Promise.reject(
        new EdgeError(
          "queue_full",
          `${this.options.label} is busy: all ${this.options.capacity()} slots are generating and ${this.waiters.length} requests are waiting (the limit); retry in ${retryAfter} s`,
          { retryAfter },
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        hint,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const at = this.waiters.indexOf(waiter);
          if (at !== -1) this.waiters.splice(at, 1);
          reject(reasonOf(signal!));
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Hands free slots to waiters in arrival order; call whenever a slot frees or slots are added. */
  pump(): void {
    while (this.waiters.length > 0) {
      const slot = this.options.tryTake(this.waiters[0]!.hint);
      if (slot === undefined) return;
      const waiter = this.waiters.shift()!;
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.resolve(slot);
    }
  }

  /** Rejects every waiter (the model failed or the gateway is shutting down). */
  rejectAll(error: EdgeError): void {
    for (const waiter of this.waiters.splice(0)) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.reject(error);
    }
  }
}

function reasonOf(signal: AbortSignal): EdgeError {
  return isEdgeError(signal.reason) ? signal.reason : new EdgeError("aborted", "the request was cancelled while waiting in the queue");
}
