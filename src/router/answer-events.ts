/**
 * Events from answers (`router.events.emit`): listens for finished local
 * generations (request:answer, emitted on every transport, streamed or not),
 * and appends one compact event per matching rule to the durable outbox. The
 * work runs after the answer is on its way (setImmediate) and never reaches
 * the client: an outbox that refuses (full, not running, disk error) is logged
 * and counted per rule.
 */
import type { EmitRuleConfig } from "../config/sections/router-emit.js";
import { logger } from "../log.js";
import type { GatewayEvents, RequestAnswerEvent } from "../scheduler/gateway-events.js";
import { AnswerRule } from "./answer-rule.js";
import type { OutboxRecord } from "./outbox.js";
import type { Redactor } from "./redactor.js";

/** Counts of one rule, for metrics. */
export interface AnswerRuleStats {
  rule: string;
  /** Events the outbox accepted. */
  emitted: number;
  /** Matching answers whose event the outbox refused (logged). */
  failed: number;
}

/** Where events go: the outbox (its append). */
export interface AnswerEventTarget {
  append(body: unknown, idempotencyKey?: string): Promise<OutboxRecord>;
}

/** Least time between two logged failures of one rule, in ms. */
const LOG_EVERY_MS = 10_000;

/**
 * An answer event's id (the outbox's idempotency key): `answer-<request id>-<rule>`, and for one of several
 * choices `answer-<request id>-choice-<index>-<rule>`, so each choice's event is its own and a retry is not.
 */
export function answerEventId(answer: Pick<RequestAnswerEvent, "requestId" | "choice">, rule: string): string {
  return answer.choice === undefined ? `answer-${answer.requestId}-${rule}` : `answer-${answer.requestId}-choice-${answer.choice}-${rule}`;
}

export class AnswerEvents {
  private readonly rules: AnswerRule[];
  private readonly counts = new Map<string, { emitted: number; failed: number; loggedAt: number }>();
  private readonly pending = new Set<Promise<void>>();
  private detachListener: (() => void) | undefined;

  constructor(
    rules: readonly EmitRuleConfig[],
    private readonly target: AnswerEventTarget,
    redactor: Redactor,
    gatewayId?: string,
  ) {
    this.rules = rules.map((rule) => new AnswerRule(rule, redactor, gatewayId));
    for (const rule of rules) this.counts.set(rule.name, { emitted: 0, failed: 0, loggedAt: -Infinity });
  }

  /** Starts reading the answers `events` reports. */
  attach(events: GatewayEvents): void {
    if (this.detachListener || this.rules.length === 0) return;
    const listener = (answer: RequestAnswerEvent): void => {
      if (answer.localModel === undefined) return;
      const at = new Date();
      // After the answer is written: matching and the journal's fsync never hold the client.
      setImmediate(() => this.handle(answer, at));
    };
    events.on("request:answer", listener);
    this.detachListener = () => events.off("request:answer", listener);
  }

  /** Stops listening and waits for the events already being appended. */
  async detach(): Promise<void> {
    this.detachListener?.();
    this.detachListener = undefined;
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.all(this.pending);
  }

  stats(): AnswerRuleStats[] {
    return [...this.counts].map(([rule, c]) => ({ rule, emitted: c.emitted, failed: c.failed }));
  }

  private handle(answer: RequestAnswerEvent, at: Date): void {
    for (const rule of this.rules) {
      const count = this.counts.get(rule.name)!;
      let body;
      try {
        body = rule.match(answer, at);
      } catch (error) {
        this.failed(rule.name, count, error);
        continue;
      }
      if (!body) continue;
      const appended = this.target
        .append(body, answerEventId(answer, rule.name))
        .then(
          () => void count.emitted++,
          (error: unknown) => this.failed(rule.name, count, error),
        )
        .finally(() => this.pending.delete(appended));
      this.pending.add(appended);
    }
  }

  private failed(rule: string, count: { failed: number; loggedAt: number }, error: unknown): void {
    count.failed++;
    const now = Date.now();
    if (now - count.loggedAt < LOG_EVERY_MS) return;
    count.loggedAt = now;
    logger.warn(`router.events.emit rule ${rule}: event not queued (${count.failed} so far): ${(error as Error).message}`);
  }
}
