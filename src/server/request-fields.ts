/**
 * Request fields both dialects share, with the project's conventions: token
 * limits are positive integers or -1 (until end of text or a full context),
 * seeds are any integer (llama.cpp's 32-bit seed; -1 = random).
 */
import { z } from "zod";
import { EdgeError } from "../errors.js";
import type { ServedModelStatus } from "../scheduler/served-model.js";

/** max_tokens / num_predict: a positive integer, or -1 for no limit. */
export const tokenLimit = z
  .number()
  .int("must be an integer")
  .refine((v) => v >= 1 || v === -1, "must be a positive integer, or -1 for no limit");

/** The sampling fields' ranges, the same for every API (each dialect adds its own nullability). */
export const samplingRanges = {
  temperature: z.number().min(0).max(2),
  top_p: z.number().min(0).max(1),
  top_k: z.number().int().min(0),
  min_p: z.number().min(0).max(1),
  typical_p: z.number().gt(0).max(1),
  repeat_penalty: z.number().min(0).max(10),
  repeat_last_n: z.number().int().min(0),
  frequency_penalty: z.number().min(-2).max(2),
  presence_penalty: z.number().min(-2).max(2),
  /** An additive logit bias; -100 bans the token. */
  logit_bias: z.number().min(-100).max(100),
};

/** At most this many texts per embeddings request (OpenAI's limit, in every dialect). */
export const MAX_EMBEDDING_INPUTS = 2048;

/**
 * Throws invalid_request for more than MAX_EMBEDDING_INPUTS texts: one request embedding 100,000 of them held a
 * runner's embedding context past 30 s while every other embedding request waited.
 */
export function checkEmbeddingCount(count: number, param: string): void {
  if (count > MAX_EMBEDDING_INPUTS) throw new EdgeError("invalid_request", `${param}: at most ${MAX_EMBEDDING_INPUTS} texts per request, got ${count}`, { param });
}

/** At most this many stop strings per request. */
export const MAX_STOP_STRINGS = 16;

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

/** A logit bias by token id, each id checked against `model`'s vocabulary; undefined when empty. */
export function logitBiasFor(bias: Record<string, number>, model: ServedModelStatus, param = "logit_bias"): Record<number, number> | undefined {
  const vocab = model.info?.vocabSize ?? model.summary?.vocabSize ?? Infinity;
  const checked: Record<number, number> = {};
  for (const [key, value] of Object.entries(bias)) {
    const id = Number(key);
    if (id >= vocab) throw new EdgeError("invalid_request", `${param}: token id ${id} is outside the vocabulary (0–${vocab - 1})`, { param });
    checked[id] = value;
  }
  return Object.keys(checked).length > 0 ? checked : undefined;
}
