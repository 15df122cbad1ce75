/**
 * The values policies watch, by name (cpu_percent, memory_used_percent, ...).
 * Each signal is a reader called at evaluation time; undefined means "no
 * reading" (the source is absent), which never fires a rule. Readers can be
 * replaced, which is how tests force a reading (e.g. memory pressure high).
 */
import type { PolicySignal } from "../config/sections/policies.js";

export type SignalReader = () => number | undefined;

export class SignalBoard {
  private readonly readers = new Map<PolicySignal, SignalReader>();

  /** Sets (or replaces) the reader of `signal`. */
  set(signal: PolicySignal, reader: SignalReader): this {
    this.readers.set(signal, reader);
    return this;
  }

  /** The current value of `signal`; undefined when it has no reader or no reading. */
  read(signal: PolicySignal): number | undefined {
    const value = this.readers.get(signal)?.();
    return value !== undefined && Number.isFinite(value) ? value : undefined;
  }

  /** Every signal with a reading now (for /admin/policies). */
  snapshot(): Partial<Record<PolicySignal, number>> {
    const out: Partial<Record<PolicySignal, number>> = {};
    for (const signal of this.readers.keys()) {
      const value = this.read(signal);
      if (value !== undefined) out[signal] = value;
    }
    return out;
  }
}
