/**
 * What a coordinator publishes (the request to open a round) and what a round's status says, on the wire.
 */
import { z } from "zod";
import type { PrivacyGuarantee } from "./privacy-accountant.js";

/** POST /federated/rounds: a round over a store model. Defaults in the schema. */
export const publishRoundSchema = z
  .object({
    /** The base model: a store name:tag on the coordinator (its file's SHA-256 is what participants must hold). */
    base: z.string().min(1),
    /** Where the aggregated model goes in the coordinator's store. Default `<base name>:fed-<round id>`. */
    output: z.string().min(1).optional(),
    /** Participants' fine-tuning: passes over their text (default 1), AdamW step (default 1e-4), tokens per context (default 64). */
    epochs: z.number().int().min(1).max(100).default(1),
    learning_rate: z.number().positive().max(1).default(1e-4),
    context: z.number().int().min(8).max(8192).default(64),
    /** Bound on each update's global L2 norm, C (default 1). */
    clip_norm: z.number().positive().max(1e6).default(1),
    /** Gaussian noise multiplier z: participants add N(0, (z·C)²) to every value (default 0: no noise, no privacy claim). */
    noise_multiplier: z.number().min(0).max(1e6).default(0),
    /** The δ the round's (ε, δ) is stated for (default 1e-5). */
    dp_delta: z.number().positive().lt(1).default(1e-5),
    /** Seconds until the round closes and aggregates what arrived (default 600). */
    deadline_s: z.number().min(1).max(7 * 86400).default(600),
    /** Updates needed to aggregate at the deadline (default 2); fewer and the round fails. */
    min_participants: z.number().int().min(1).max(10_000).default(2),
    /**
     * A registry tag (`oci://host/repo:tag`) the aggregated version is pushed to once written and signed, e.g. the tag
     * a fleet rollout follows. Absent: the version stays in the coordinator's store.
     */
    publish: z.string().min(1).max(2048).optional(),
  })
  .strict();

export type PublishRound = z.infer<typeof publishRoundSchema>;

export type RoundState = "open" | "aggregating" | "done" | "failed";

/** A round as GET /federated/rounds/:id answers (snake_case, JSON). */
export interface RoundStatus {
  id: string;
  state: RoundState;
  base: { name: string; sha256: string };
  output: string;
  training: { epochs: number; learning_rate: number; context_size: number };
  clip_norm: number;
  noise_multiplier: number;
  /** Largest global L2 norm an update may measure: C, plus room for the noise (C + z·C·(√values + 6)). */
  norm_bound: number;
  min_participants: number;
  /** The registry tag the result is pushed to, when the round was published with one. */
  publish?: string;
  created: string;
  deadline: string;
  privacy: {
    /** ε for sensitivity C (the update against no contribution); null without noise. */
    epsilon: number | null;
    /** ε for sensitivity 2C (against the update from any other text of the participant); null without noise. */
    epsilon_replace: number | null;
    delta: number;
    classic_epsilon: number | null;
    classic_valid: boolean;
    accountant: string;
    scope: string;
  };
  accepted: Array<{ key: string; tokens: number; norm: number; clipped_norm: number; at: string }>;
  refused: Array<{ key: string | null; reason: string; message: string; at: string }>;
  /** Why the round failed (state failed). */
  reason?: string;
  /**
   * The aggregated model (state done); `published` once pushed to the round's registry tag, `publish_error` when
   * that push failed (the version is in the store all the same: `edgelm push` it).
   */
  result?: {
    model: string;
    sha256: string;
    signed: boolean;
    participants: number;
    total_tokens: number;
    seconds: number;
    published?: { reference: string; digest: string };
    publish_error?: string;
  };
}

/** The privacy block of a round's status. */
export function privacyJson(p: PrivacyGuarantee, replace: PrivacyGuarantee): RoundStatus["privacy"] {
  const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);
  return {
    epsilon: finite(p.epsilon),
    epsilon_replace: finite(replace.epsilon),
    delta: p.delta,
    classic_epsilon: finite(p.classicEpsilon),
    classic_valid: p.classicValid,
    accountant: p.accountant,
    scope: "per participant update (user level), one round; epsilon: sensitivity clip_norm (add/remove), epsilon_replace: 2 × clip_norm (any two texts)",
  };
}
