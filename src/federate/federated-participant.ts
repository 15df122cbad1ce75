/**
 * A gateway's background participation (server.federated.participate): every poll_s it asks the coordinator for
 * open rounds and joins each one it has not tried yet, one at a time, with the configured key and text. A round
 * it cannot join (no matching base, a refusal) is logged and not tried again; closing aborts a fine-tune in flight.
 */
import type { Config } from "../config/schema.js";
import { toEdgeError } from "../errors.js";
import { logger } from "../log.js";
import { coordinatorRequest, joinRound, type JoinResult } from "./round-participant.js";
import type { RoundStatus } from "./round-spec.js";

/** What happened to each round this device tried. */
export interface ParticipationRecord {
  round: string;
  outcome: "sent" | "failed";
  result?: JoinResult;
  error?: { code: string; message: string };
}

export class FederatedParticipant {
  private readonly tried = new Map<string, ParticipationRecord>();
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly config: Config) {}

  /** Rounds tried so far, in order. */
  records(): ParticipationRecord[] {
    return [...this.tried.values()];
  }

  /** Starts polling (the first poll right away). */
  start(): void {
    const tick = (): void => {
      if (this.abort.signal.aborted) return;
      this.busy = this.poll().finally(() => {
        this.busy = undefined;
        if (!this.abort.signal.aborted) {
          this.timer = setTimeout(tick, this.config.server.federated.poll_s * 1000);
          this.timer.unref();
        }
      });
    };
    tick();
  }

  /** Stops polling and aborts a round in progress (its trainer is stopped). */
  async close(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.timer);
    await this.busy?.catch(() => {});
  }

  private async poll(): Promise<void> {
    const f = this.config.server.federated;
    const url = f.coordinator_url!.replace(/\/+$/, "");
    let rounds: RoundStatus[];
    try {
      rounds = ((await coordinatorRequest(`${url}/federated/rounds?state=open`, { ...(f.coordinator_key ? { key: f.coordinator_key } : {}), signal: this.abort.signal })) as { rounds: RoundStatus[] }).rounds;
    } catch (error) {
      if (!this.abort.signal.aborted) logger.warn(`federated: cannot list the coordinator's rounds: ${toEdgeError(error).message}`);
      return;
    }
    for (const round of [...rounds].reverse()) {
      if (this.tried.has(round.id) || this.abort.signal.aborted) continue;
      try {
        const result = await joinRound(this.config, {
          coordinatorUrl: url,
          ...(f.coordinator_key ? { coordinatorKey: f.coordinator_key } : {}),
          keyPath: f.key!,
          keyId: f.key_id!,
          textPath: f.text!,
          round: round.id,
          ...(f.threads !== undefined ? { threads: f.threads } : {}),
          signal: this.abort.signal,
          onStatus: (line) => logger.info(`federated: ${line}`),
        });
        this.tried.set(round.id, { round: round.id, outcome: "sent", result });
        logger.info(`federated: round ${round.id}: update accepted (${result.tokens} tokens, norm ${result.norm.toPrecision(4)} → ${result.clippedNorm.toPrecision(4)})`);
      } catch (error) {
        const e = toEdgeError(error);
        if (this.abort.signal.aborted) return;
        this.tried.set(round.id, { round: round.id, outcome: "failed", error: { code: e.code, message: e.message } });
        logger.warn(`federated: round ${round.id}: ${e.message}`);
      }
    }
  }
}
