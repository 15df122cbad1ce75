import { availableParallelism } from "node:os";
import { EdgeError } from "../errors.js";
import type { ThreadSetting } from "./types.js";

/**
 * Prompt and decode thread counts from what was asked: a missing decode count
 * takes the prompt count, a missing prompt count the decode count, and with
 * neither both are `cores` (default: os.availableParallelism()).
 * Throws `usage` for a count that is not a positive integer.
 */
export function resolveThreads(requested: Partial<ThreadSetting> | undefined, cores: number = availableParallelism()): ThreadSetting {
  const fallback = Math.max(1, cores);
  const decode = requested?.decode ?? requested?.prompt ?? fallback;
  const prompt = requested?.prompt ?? decode;
  for (const [name, value] of Object.entries({ prompt, decode })) {
    if (!Number.isInteger(value) || value < 1) throw new EdgeError("usage", `${name} threads must be a positive integer, got ${value}`);
  }
  return { prompt, decode };
}
