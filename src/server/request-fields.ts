/**
 * Request fields both dialects share, with the project's conventions: token
 * limits are positive integers or -1 (until end of text or a full context),
 * seeds are any integer (llama.cpp's 32-bit seed; -1 = random).
 */
import { z } from "zod";

/** max_tokens / num_predict: a positive integer, or -1 for no limit. */
export const tokenLimit = z
  .number()
  .int("must be an integer")
  .refine((v) => v >= 1 || v === -1, "must be a positive integer, or -1 for no limit");

export const seedField = z.number().int("must be an integer").refine(Number.isSafeInteger, "must be a safe integer");

/** A seed for llama.cpp's 32-bit sampler seed; -1 (and absent) means a random one. */
export function samplerSeed(seed: number | null | undefined): number | undefined {
  if (seed === undefined || seed === null || seed === -1) return undefined;
  const modulus = 2 ** 32;
  return ((seed % modulus) + modulus) % modulus;
}

/** `stop` as a list (a string is one stop string). */
export function stopList(stop: string | string[] | null | undefined): string[] | undefined {
  if (stop === undefined || stop === null) return undefined;
  const list = (typeof stop === "string" ? [stop] : stop).filter((s) => s.length > 0);
  return list.length > 0 ? list : undefined;
}

/** Milliseconds as Ollama's integer nanoseconds. */
export function nanoseconds(ms: number): number {
  return Math.max(0, Math.round(ms * 1e6));
}
