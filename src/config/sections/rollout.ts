import { z } from "zod";

/** One prompt of the health gate's smoke set and what its answer must show. */
export const smokeCheck = z
  .object({
    /** A raw prompt, or (with `chat: true`) one user message through the model's chat template. */
    prompt: z.string().min(1).max(10_000),
    chat: z.boolean().default(false),
    /** Tokens to generate (greedy: temperature 0, so a gate is reproducible). */
    max_tokens: z.number().int().min(1).max(1024).default(16),
    /** The text has at least one non-space character. */
    non_empty: z.boolean().default(true),
    /** The text parses as JSON (the request asks for a JSON object when true). */
    json: z.boolean().default(false),
    /** The text contains this string. */
    contains: z.string().min(1).optional(),
    /** The first token must come within this many ms of the request. */
    max_first_token_ms: z.number().int().min(1).optional(),
  })
  .strict();

/** A group of gateways taking a new digest together, in the order of `server.rollout.waves`. */
export const rolloutWave = z
  .object({
    group: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, "lower-case letters, digits and - (it becomes part of a tag)"),
    /** Seconds a gateway of this group serves a new digest healthily before it publishes `<tag>-healthy-<group>` for the next group. */
    healthy_for_s: z.number().min(0).default(600),
  })
  .strict();

const DEFAULT_SMOKE = [{ prompt: "Hello", chat: false, max_tokens: 8, non_empty: true, json: false }];

/** `server.rollout`: how models with `follow:` take new digests of their tag. */
export const rolloutSection = z
  .object({
    /** This gateway's wave (one of `waves[].group`); without one it follows the tag itself and publishes nothing. */
    group: z.string().min(1).optional(),
    /** The waves, first to last: group 1 follows the tag, group n follows `<tag>-healthy-<group n-1>`. */
    waves: z.array(rolloutWave).default([]),
    /** Seconds between checks of the followed tag (jittered by `poll_jitter`). */
    poll_interval_s: z.number().min(1).default(300),
    /** Each wait is the interval times a random factor in [1 - jitter, 1 + jitter], so a fleet does not poll at once. */
    poll_jitter: z.number().min(0).max(0.9).default(0.2),
    /** The health gate: every prompt must pass on the new runner before any client request reaches it. */
    smoke: z.array(smokeCheck).min(1).max(32).default(DEFAULT_SMOKE),
    /** `auto`: load the new version beside the old when both fit in memory, else drain, unload, load. */
    swap: z.enum(["auto", "overlap", "drain-first"]).default("auto"),
  })
  .strict()
  .superRefine((section, ctx) => {
    const groups = section.waves.map((w) => w.group);
    groups.forEach((g, i) => {
      if (groups.indexOf(g) !== i) ctx.addIssue({ code: "custom", path: ["waves", i, "group"], message: `group "${g}" is listed twice` });
    });
    if (section.group !== undefined && section.waves.length > 0 && !groups.includes(section.group)) {
      ctx.addIssue({ code: "custom", path: ["group"], message: `"${section.group}" is not one of the waves (${groups.join(", ")})` });
    }
  })
  .default({ waves: [], poll_interval_s: 300, poll_jitter: 0.2, smoke: DEFAULT_SMOKE, swap: "auto" });

export type RolloutConfig = z.infer<typeof rolloutSection>;
export type SmokeCheck = z.infer<typeof smokeCheck>;
