/**
 * One rule's condition over time: ok → pending (condition true, not yet for
 * `for_s`) → firing; a firing rule clears only once the value is back past the
 * threshold by `hysteresis`, so a value hovering at the threshold does not flap.
 * No reading (undefined) resets a pending rule and leaves a firing one firing.
 * Pure: the caller supplies the time.
 */
import type { PolicyRule } from "../config/sections/policies.js";

export type RuleStatus = "ok" | "pending" | "firing";

/** What changed at one observation. */
export type RuleTransition = "pending" | "fired" | "cleared" | "reset";

export function compare(value: number, op: PolicyRule["op"], threshold: number): boolean {
  switch (op) {
    case ">":
      return value > threshold;
    case ">=":
      return value >= threshold;
    case "<":
      return value < threshold;
    case "<=":
      return value <= threshold;
  }
}

/** The condition in words, e.g. "memory_used_percent > 90 for 10s". */
export function describeCondition(rule: Pick<PolicyRule, "metric" | "op" | "threshold" | "for_s">): string {
  return `${rule.metric} ${rule.op} ${rule.threshold}${rule.for_s > 0 ? ` for ${rule.for_s}s` : ""}`;
}

export class RuleTracker {
  status: RuleStatus = "ok";
  /** The last reading (undefined when the signal had none). */
  value: number | undefined;
  /** When the condition started holding (ms), while pending or firing. */
  since: number | undefined;

  constructor(readonly rule: PolicyRule) {}

  /** True when `value` is past the threshold. */
  breaches(value: number): boolean {
    return compare(value, this.rule.op, this.rule.threshold);
  }

  /** True when a firing rule may clear at `value`: past the threshold the other way by the hysteresis. */
  recovered(value: number): boolean {
    const { op, threshold, hysteresis } = this.rule;
    const above = op === ">" || op === ">=";
    const edge = above ? threshold - hysteresis : threshold + hysteresis;
    return !compare(value, op, edge);
  }

  /** Feeds one reading taken at `now` (ms); returns what changed, if anything. */
  observe(value: number | undefined, now: number): RuleTransition | undefined {
    this.value = value;
    if (this.status === "firing") {
      if (value === undefined || !this.recovered(value)) return undefined;
      this.status = "ok";
      this.since = undefined;
      return "cleared";
    }
    if (value === undefined || !this.breaches(value)) {
      const wasPending = this.status === "pending";
      this.status = "ok";
      this.since = undefined;
      return wasPending ? "reset" : undefined;
    }
    let transition: RuleTransition | undefined;
    if (this.status === "ok") {
      this.status = "pending";
      this.since = now;
      transition = "pending";
    }
    if (now - this.since! >= this.rule.for_s * 1000) {
      this.status = "firing";
      return "fired";
    }
    return transition;
  }
}
