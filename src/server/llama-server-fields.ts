/**
 * llama.cpp server's request extensions, as the OpenAI routes and the native
 * llama-server routes accept them. Each is honoured (mapped to the engine's
 * GenerateRequest), accepted without effect (it changes nothing about the
 * answer here), or refused unless it is left at its neutral value (a sampler
 * the engine does not have: the answer would differ from llama-server's).
 * docs/api.md lists them.
 */
import { z } from "zod";
import type { GenerateRequest } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import { samplingRanges } from "./request-fields.js";

const optionalNumber = z.number().nullish();

/** Honoured: sampling the engine has. */
export const llamaSamplingFields = {
  top_k: samplingRanges.top_k.nullish(),
  min_p: samplingRanges.min_p.nullish(),
  typical_p: samplingRanges.typical_p.nullish(),
  repeat_penalty: samplingRanges.repeat_penalty.nullish(),
  repeat_last_n: samplingRanges.repeat_last_n.nullish(),
  /** Reuse the cached prompt prefix (default true). */
  cache_prompt: z.boolean().nullish(),
  /** A GBNF grammar the output must match. */
  grammar: z.string().nullish(),
  /** Top alternatives per generated token (logprobs). */
  n_probs: z.number().int().min(0).max(20).nullish(),
  /** Extra variables for the model's Jinja chat template (e.g. enable_thinking). */
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
};

/** Samplers the engine does not offer, with the value that leaves them off. */
const NEUTRAL: Record<string, number> = {
  mirostat: 0,
  dynatemp_range: 0,
  xtc_probability: 0,
  dry_multiplier: 0,
};

/** Refused unless neutral (NEUTRAL), or without effect. */
export const llamaUnavailableFields = {
  mirostat: optionalNumber,
  mirostat_tau: optionalNumber,
  mirostat_eta: optionalNumber,
  dynatemp_range: optionalNumber,
  dynatemp_exponent: optionalNumber,
  xtc_probability: optionalNumber,
  xtc_threshold: optionalNumber,
  dry_multiplier: optionalNumber,
  dry_base: optionalNumber,
  dry_allowed_length: optionalNumber,
  dry_penalty_last_n: optionalNumber,
  dry_sequence_breakers: z.array(z.string()).nullish(),
  // Without effect: the gateway picks slots, keeps its own timings and sampler order.
  n_keep: optionalNumber,
  id_slot: optionalNumber,
  min_keep: optionalNumber,
  samplers: z.array(z.string()).nullish(),
  timings_per_token: z.boolean().nullish(),
  n_indent: optionalNumber,
  t_max_predict_ms: optionalNumber,
  n_cache_reuse: optionalNumber,
};

type LlamaFields = {
  [K in keyof typeof llamaSamplingFields]?: z.output<(typeof llamaSamplingFields)[K]>;
} & { [K in keyof typeof llamaUnavailableFields]?: z.output<(typeof llamaUnavailableFields)[K]> };

/**
 * The engine settings of llama-server's fields in `body` (n_probs is the
 * dialect's to place); a sampler set to anything but neutral is refused by name.
 */
export function llamaFieldsRequest(body: LlamaFields): GenerateRequest {
  for (const [field, neutral] of Object.entries(NEUTRAL)) {
    const value = (body as Record<string, unknown>)[field];
    if (value !== undefined && value !== null && value !== neutral) {
      throw new EdgeError("unsupported", `${field}: this engine has no such sampler; leave it out or set it to ${neutral}`, { param: field });
    }
  }
  const request: GenerateRequest = {};
  if (body.top_k != null) request.topK = body.top_k;
  if (body.min_p != null) request.minP = body.min_p;
  if (body.typical_p != null) request.typicalP = body.typical_p;
  if (body.repeat_penalty != null) request.repeatPenalty = body.repeat_penalty;
  if (body.repeat_last_n != null) request.repeatLastN = body.repeat_last_n;
  if (body.cache_prompt != null) request.cachePrompt = body.cache_prompt;
  if (body.grammar) request.responseFormat = { type: "grammar", gbnf: body.grammar };
  if (body.chat_template_kwargs) request.chatTemplateKwargs = body.chat_template_kwargs;
  return request;
}
