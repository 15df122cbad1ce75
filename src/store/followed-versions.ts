/**
 * What a served model that follows a registry tag has taken so far, kept
 * under `$EDGELM_HOME/rollout/<model>.json` so a restart serves the same
 * version and still refuses the digests it refused: the version serving now,
 * the previous one (kept in the store for `edgelm admin rollback`), and the
 * refused digests (a failed health gate or a rollback) with why.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../atomic-write.js";
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";

const version = z.object({
  /** The store name it was pulled under (what the pool serves). */
  ref: z.string().min(1),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  version: z.string(),
  since: z.string(),
});

const stateSchema = z.object({
  follow: z.string(),
  current: version.optional(),
  previous: version.optional(),
  refused: z.array(z.object({ digest: z.string(), reason: z.string(), at: z.string() })).default([]),
});

export type FollowedVersion = z.infer<typeof version>;
export type FollowedState = z.infer<typeof stateSchema>;

/** Refused digests remembered per model (the oldest are forgotten first). */
const MAX_REFUSED = 32;

function statePath(config: Config, model: string): string {
  return join(config.home, "rollout", `${model.replace(/[^A-Za-z0-9._-]/g, "_")}.json`);
}

/** The recorded state of `model` following `follow` (a fresh one when nothing, or another reference, was followed). */
export function readFollowedState(config: Config, model: string, follow: string): FollowedState {
  const path = statePath(config, model);
  if (!existsSync(path)) return { follow, refused: [] };
  let parsed: FollowedState;
  try {
    parsed = stateSchema.parse(JSON.parse(readFileSync(path, "utf8")));
  } catch (error) {
    throw new EdgeError("invalid_config", `${path} is not a rollout state edgelm wrote (${(error as Error).message}); remove it to start following ${follow} afresh`);
  }
  return parsed.follow === follow ? parsed : { follow, refused: [] };
}

/** Writes the state atomically (a crash leaves the old or the new file, never half of one). */
export async function writeFollowedState(config: Config, model: string, state: FollowedState): Promise<void> {
  const path = statePath(config, model);
  await mkdir(join(config.home, "rollout"), { recursive: true });
  const kept = { ...state, refused: state.refused.slice(-MAX_REFUSED) };
  await writeFileAtomic(path, `${JSON.stringify(kept, null, 2)}\n`);
}
