/**
 * Request bodies of llama.cpp server's native routes (/completion, /tokenize,
 * /detokenize, /apply-template, /embedding, /infill) with its field names, as
 * its tools/server/README.md describes them. `model` is optional: a gateway
 * serving several models takes the first one unless it is named.
 */
import { z } from "zod";
import { chatMessageSchema } from "./openai-schemas.js";
import { llamaSamplingFields, llamaUnavailableFields } from "./llama-server-fields.js";
import { seedField } from "./request-fields.js";

const tokenId = z.number().int("must be an integer").min(0, "token ids are non-negative");

/** A string, token ids, or both mixed (`[12, "text", 56]`). */
const promptPiece = z.union([z.string(), tokenId]);
export const llamaPromptSchema = z.union([z.string(), z.array(promptPiece)], {
  error: 'expected a string, or an array of token ids and strings (one prompt, e.g. [12, 34, "text"])',
});

/** [[token id or text, bias or false], ...], or OpenAI's {"id": bias}. */
const logitBias = z.union([
  z.array(z.tuple([z.union([tokenId, z.string()]), z.union([z.number(), z.literal(false)])])),
  z.record(z.string(), z.union([z.number(), z.literal(false)])),
]);

export const llamaCompletionSchema = z
  .object({
    model: z.string().min(1).optional(),
    prompt: llamaPromptSchema,
    n_predict: z.number().int("must be an integer").min(-1).nullish(),
    stream: z.boolean().nullish(),
    temperature: z.number().min(0).max(100).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    stop: z.array(z.string()).max(16, "at most 16 stop strings").nullish(),
    seed: seedField.nullish(),
    presence_penalty: z.number().min(-2).max(2).nullish(),
    frequency_penalty: z.number().min(-2).max(2).nullish(),
    ignore_eos: z.boolean().nullish(),
    logit_bias: logitBias.nullish(),
    json_schema: z.record(z.string(), z.unknown()).nullish(),
    return_tokens: z.boolean().nullish(),
    /** Completions of this prompt (n choices); see llama-server-routes.ts. */
    n_cmpl: z.number().int().min(1).nullish(),
    post_sampling_probs: z.boolean().nullish(),
    lora: z.array(z.unknown()).nullish(),
    response_fields: z.array(z.string()).nullish(),
    return_progress: z.boolean().nullish(),
    sse_ping_interval: z.number().nullish(),
    ...llamaSamplingFields,
    ...llamaUnavailableFields,
  })
  .strict();

export const llamaInfillSchema = llamaCompletionSchema
  .extend({
    prompt: llamaPromptSchema.optional(),
    input_prefix: z.string().default(""),
    input_suffix: z.string().default(""),
    input_extra: z.array(z.object({ filename: z.string().optional(), text: z.string() }).strict()).nullish(),
  })
  .strict();

export const llamaTokenizeSchema = z
  .object({
    model: z.string().min(1).optional(),
    content: z.string(),
    add_special: z.boolean().nullish(),
    parse_special: z.boolean().nullish(),
    with_pieces: z.boolean().nullish(),
  })
  .strict();

export const llamaDetokenizeSchema = z
  .object({
    model: z.string().min(1).optional(),
    tokens: z.array(tokenId),
  })
  .strict();

export const llamaApplyTemplateSchema = z
  .object({
    model: z.string().min(1).optional(),
    messages: z.array(chatMessageSchema).min(1, "must hold at least one message"),
  })
  .strict();

export const llamaEmbeddingSchema = z
  .object({
    model: z.string().min(1).optional(),
    content: z.union([z.string(), z.array(z.string())]).optional(),
    input: z.union([z.string(), z.array(z.string())]).optional(),
    embd_normalize: z.number().int().nullish(),
    encoding_format: z.enum(["float"]).nullish(),
  })
  .strict();

export type LlamaCompletionBody = z.output<typeof llamaCompletionSchema>;
export type LlamaInfillBody = z.output<typeof llamaInfillSchema>;
