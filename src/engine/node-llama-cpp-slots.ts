/**
 * A node-llama-cpp context's sequences as slots: a request takes the free one
 * whose cached tokens share the longest prefix with its prompt, or waits in
 * line (a cancelled waiter leaves the line); a released slot goes to the next
 * waiter.
 */
import type { LlamaContext, LlamaContextSequence, Token } from "node-llama-cpp";
import { EdgeError } from "../errors.js";

export interface Slot {
  sequence: LlamaContextSequence;
  busy: boolean;
}

export class SequenceSlots {
  private readonly slots: Slot[] = [];
  private readonly waiters: Array<{ resolve: (slot: Slot) => void; reject: (e: unknown) => void; signal?: AbortSignal }> = [];

  constructor(context: LlamaContext, count: number) {
    for (let i = 0; i < count; i++) this.slots.push({ sequence: context.getSequence(), busy: false });
  }

  get busy(): number {
    return this.slots.filter((s) => s.busy).length;
  }

  /** The free slot whose cached tokens share the longest prefix with `tokens`, or the next one freed. */
  acquire(tokens: Token[], signal?: AbortSignal): Promise<Slot> {
    const free = this.slots.filter((s) => !s.busy);
    if (free.length > 0) {
      let best = free[0]!;
      let bestLength = -1;
      for (const slot of free) {
        const length = slot.sequence.compareContextTokens(tokens).firstDifferentIndex;
        if (length > bestLength) {
          best = slot;
          bestLength = length;
        }
      }
      best.busy = true;
      return Promise.resolve(best);
    }
    return new Promise<Slot>((resolve, reject) => {
      const waiter = { resolve, reject, ...(signal ? { signal } : {}) };
      this.waiters.push(waiter);
      signal?.addEventListener(
        "abort",
        () => {
          const at = this.waiters.indexOf(waiter);
          if (at !== -1) {
            this.waiters.splice(at, 1);
            reject(new EdgeError("aborted", "the request was cancelled while waiting for a free sequence"));
          }
        },
        { once: true },
      );
    });
  }

  release(slot: Slot): void {
    const next = this.waiters.shift();
    if (next) next.resolve(slot);
    else slot.busy = false;
  }

  /** Refuses every waiter with `error` (the model is going away). */
  rejectWaiters(error: EdgeError): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}
