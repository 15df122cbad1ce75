/**
 * Per-request LoRA adapters on node-llama-cpp, which applies adapters per context: each distinct adapter set a
 * request names (normalised by adapterSetOf) gets a context of its own, created on first use with a few sequences
 * and the base context's size. At most `maxContexts` live at once; when another set is asked for, the least recently
 * used idle one is disposed first, and when none is idle the request waits until one is (never evicting a context
 * while one of its sequences generates). The base context and its slots are not this module's.
 */
import type { LlamaContext, Token } from "node-llama-cpp";
import { EdgeError } from "../errors.js";
import { SequenceSlots, type Slot } from "./node-llama-cpp-slots.js";
import type { GenerateRequest } from "./types.js";

/** Most adapter contexts alive at once when LoadOptions.adapterContexts.max is not given. */
export const DEFAULT_ADAPTER_CONTEXTS = 4;

/** Sequences of each adapter context: LoadOptions.adapterContexts.sequences, else min(parallel, 2). */
export function adapterSequences(parallel: number, options?: { sequences?: number }): number {
  return Math.max(1, options?.sequences ?? Math.min(parallel, 2));
}

/** The adapters of one set, by index into the loaded model's selectable adapters, sorted, each with its scale. */
export type AdapterSet = ReadonlyArray<{ index: number; scale: number }>;

/** Opens a context with the given adapters (selectable indices, scales) and number of sequences. */
export type AdapterContextFactory = (set: AdapterSet, sequences: number) => Promise<LlamaContext>;

/**
 * The adapter set a request asks for: by index (each below `count`), the scale absent → 1, the same index twice →
 * the last one, scale 0 dropped (it adds nothing), sorted by index. Empty: the base. Errors: invalid_request.
 */
export function adapterSetOf(request: GenerateRequest, count: number, model: string): AdapterSet {
  const chosen = request.adapters ?? [];
  if (chosen.length === 0) return [];
  if (count === 0) throw new EdgeError("invalid_request", `${model} has no adapters to select`, { param: "adapters" });
  const byIndex = new Map<number, number>();
  for (const a of chosen) {
    if (!Number.isInteger(a.index) || a.index < 0 || a.index >= count) throw new EdgeError("invalid_request", `adapter ${a.index} is not loaded (${count} are)`, { param: "adapters" });
    const scale = a.scale ?? 1;
    if (!Number.isFinite(scale) || Math.abs(scale) > 100) throw new EdgeError("invalid_request", `adapter ${a.name ?? a.index}: the scale must be a number from -100 to 100, got ${scale}`, { param: "adapters" });
    byIndex.set(a.index, scale);
  }
  return [...byIndex].filter(([, scale]) => scale !== 0).map(([index, scale]) => ({ index, scale })).sort((a, b) => a.index - b.index);
}

interface AdapterContext {
  key: string;
  /** Settles once the context and its slots exist. */
  ready: Promise<{ context: LlamaContext; slots: SequenceSlots }>;
  /** Its slots, once ready. */
  slots?: SequenceSlots;
  /** Requests holding or waiting for one of its sequences: it may be evicted only at 0. */
  users: number;
  lastUsed: number;
}

/** A sequence of an adapter context, held until `release`. */
export interface AdapterSlot {
  slot: Slot;
  release: () => void;
}

export class AdapterContexts {
  private readonly contexts = new Map<string, AdapterContext>();
  private readonly waiters: Array<{ wake: () => void }> = [];
  private closed: EdgeError | undefined;
  private tick = 0;
  /** Contexts created and evicted since load (the runner's health, tests). */
  created = 0;
  evicted = 0;

  /**
   * @param open creates one set's context
   * @param sequences sequences per adapter context
   * @param maxContexts most adapter contexts alive at once (at least 1)
   */
  constructor(
    private readonly open: AdapterContextFactory,
    private readonly sequences: number,
    private readonly maxContexts: number,
  ) {}

  /** Sequences generating in adapter contexts. */
  get busy(): number {
    let n = 0;
    for (const entry of this.contexts.values()) n += entry.slots?.busy ?? 0;
    return n;
  }

  /** Adapter contexts alive now. */
  get size(): number {
    return this.contexts.size;
  }

  /** A sequence of the context for `set` (created when needed), the one sharing the longest prefix with `tokens`. */
  async acquire(set: AdapterSet, tokens: Token[], signal?: AbortSignal): Promise<AdapterSlot> {
    const key = set.map((a) => `${a.index}:${a.scale}`).join(",");
    const entry = await this.entryFor(key, set, signal);
    let slot: Slot;
    let slots: SequenceSlots;
    try {
      slots = (await entry.ready).slots;
      // The model may have been unloaded while the context was being made.
      if (this.closed) throw this.closed;
      slot = await slots.acquire(tokens, signal);
    } catch (error) {
      this.leave(entry);
      throw error;
    }
    let released = false;
    return {
      slot,
      release: () => {
        if (released) return;
        released = true;
        slots.release(slot);
        this.leave(entry);
      },
    };
  }

  private async entryFor(key: string, set: AdapterSet, signal?: AbortSignal): Promise<AdapterContext> {
    for (;;) {
      if (this.closed) throw this.closed;
      if (signal?.aborted) throw new EdgeError("aborted", "the request was cancelled while waiting for an adapter context");
      const existing = this.contexts.get(key);
      if (existing) {
        existing.users++;
        existing.lastUsed = ++this.tick;
        return existing;
      }
      if (this.contexts.size < this.maxContexts || (await this.evictOne())) {
        // evictOne awaited: another request may have created this set meanwhile.
        if (this.contexts.has(key) || this.contexts.size >= this.maxContexts) continue;
        const entry: AdapterContext = { key, users: 1, lastUsed: ++this.tick, ready: this.create(key, set) };
        this.contexts.set(key, entry);
        void entry.ready.then(({ slots }) => (entry.slots = slots), () => {});
        return entry;
      }
      await this.waitForIdle(signal);
    }
  }

  private create(key: string, set: AdapterSet): Promise<{ context: LlamaContext; slots: SequenceSlots }> {
    const ready = this.open(set, this.sequences).then((context) => {
      this.created++;
      return { context, slots: new SequenceSlots(context, this.sequences) };
    });
    // A context that could not be made is forgotten, so a later request tries again.
    ready.catch(() => {
      if (this.contexts.get(key)?.ready === ready) this.contexts.delete(key);
      this.wakeWaiters();
    });
    return ready;
  }

  /** Disposes the least recently used idle context; false when every one is in use. */
  private async evictOne(): Promise<boolean> {
    let victim: AdapterContext | undefined;
    for (const entry of this.contexts.values()) if (entry.users === 0 && (!victim || entry.lastUsed < victim.lastUsed)) victim = entry;
    if (!victim) return false;
    this.contexts.delete(victim.key);
    this.evicted++;
    await victim.ready.then(({ context }) => context.dispose()).catch(() => {});
    return true;
  }

  private leave(entry: AdapterContext): void {
    entry.users--;
    if (entry.users === 0) this.wakeWaiters();
  }

  private wakeWaiters(): void {
    for (const waiter of this.waiters.splice(0)) waiter.wake();
  }

  private waitForIdle(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiter = {
        wake: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const at = this.waiters.indexOf(waiter);
        if (at !== -1) this.waiters.splice(at, 1);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Refuses every waiting request with `error` and disposes every adapter context (the model is going away). */
  async dispose(error: EdgeError): Promise<void> {
    this.closed = error;
    this.wakeWaiters();
    const entries = [...this.contexts.values()];
    this.contexts.clear();
    await Promise.all(
      entries.map((entry) =>
        entry.ready
          .then(async ({ context, slots }) => {
            slots.rejectWaiters(error);
            await context.dispose();
          })
          .catch(() => {}),
      ),
    );
  }
}
