/**
 * Ollama request bodies as zod schemas, with Ollama's field and option names.
 * Options Ollama applies at load time or through samplers llama.cpp's server
 * no longer has are accepted without effect (docs/api.md lists them); unknown
 * fields and options are ignored, or a 400 naming them with server.strict_fields.
 */
import { z } from "zod";
import { ollamaToolCallSchema, ollamaToolSchema } from "./ollama-tools.js";
import { samplingRanges, seedField, tokenLimit } from "./request-fields.js";

export const ollamaOptionsSchema = z
  .object({
    // honoured
    num_predict: tokenLimit.optional(),
    num_ctx: z.number().int().min(16).optional(),
    temperature: z.number().min(0).max(100).optional(),
    top_k: z.number().int().min(0).optional(),
    top_p: z.number().min(0).max(1).optional(),
    min_p: z.number().min(0).max(1).optional(),
    seed: seedField.optional(),
    stop: z.union([z.string(), z.array(z.string())], { error: "expected a string or an array of strings" }).optional(),
    repeat_penalty: z.number().min(0).max(10).optional(),
    repeat_last_n: z.number().int().min(-1).optional(),
    presence_penalty: z.number().min(-2).max(2).optional(),
    frequency_penalty: z.number().min(-2).max(2).optional(),
    typical_p: samplingRanges.typical_p.optional(),
    // accepted, no effect (load-time settings the gateway owns, or samplers not offered)
    num_keep: z.number().int().optional(),
    tfs_z: z.number().optional(),
    mirostat: z.number().int().optional(),
    mirostat_tau: z.number().optional(),
    mirostat_eta: z.number().optional(),
    penalize_newline: z.boolean().optional(),
    numa: z.boolean().optional(),
    num_batch: z.number().int().optional(),
    num_gpu: z.number().int().optional(),
    main_gpu: z.number().int().optional(),
    low_vram: z.boolean().optional(),
    f16_kv: z.boolean().optional(),
    logits_all: z.boolean().optional(),
    vocab_only: z.boolean().optional(),
    use_mmap: z.boolean().optional(),
    use_mlock: z.boolean().optional(),
    embedding_only: z.boolean().optional(),
    num_thread: z.number().int().optional(),
  })
  .strict();

const format = z.union([z.literal(""), z.literal("json"), z.record(z.string(), z.unknown())], {
  error: 'expected "json" or a JSON schema object',
});
const keepAlive = z.union([z.string(), z.number()]).optional();
const think = z.union([z.boolean(), z.enum(["high", "medium", "low"])]).optional();

const generation = {
  model: z.string().min(1),
  stream: z.boolean().optional(),
  format: format.optional(),
  options: ollamaOptionsSchema.optional(),
  keep_alive: keepAlive,
  think,
  logprobs: z.boolean().optional(),
  top_logprobs: z.number().int().min(0).max(20).optional(),
  /** false: a prompt longer than the context is an error instead of being cut (ollama-truncation.ts). */
  truncate: z.boolean().optional(),
  /** Accepted without effect: the context is never shifted; generation ends at a full context (done_reason "length"). */
  shift: z.boolean().optional(),
};

export const ollamaGenerateSchema = z
  .object({
    ...generation,
    prompt: z.string().optional(),
    suffix: z.string().optional(),
    system: z.string().optional(),
    template: z.string().optional(),
    context: z.array(z.number()).optional(),
    raw: z.boolean().optional(),
    images: z.array(z.string()).optional(),
  })
  .strict();

export const ollamaMessageSchema = z
  .object({
    role: z.enum(["system", "user", "assistant", "tool"]),
    content: z.string(),
    images: z.array(z.string()).optional(),
    tool_calls: z.array(ollamaToolCallSchema).optional(),
    tool_name: z.string().optional(),
    thinking: z.string().optional(),
  })
  .strict();

export const ollamaChatSchema = z
  .object({
    ...generation,
    messages: z.array(ollamaMessageSchema).optional(),
    tools: z.array(ollamaToolSchema).optional(),
  })
  .strict();

export const ollamaEmbedSchema = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.string())], { error: "expected a string or an array of strings" }),
    truncate: z.boolean().optional(),
    dimensions: z.number().int().min(1).optional(),
    options: ollamaOptionsSchema.optional(),
    keep_alive: keepAlive,
  })
  .strict();

export const ollamaEmbeddingsSchema = z
  .object({
    model: z.string().min(1),
    prompt: z.string(),
    options: ollamaOptionsSchema.optional(),
    keep_alive: keepAlive,
  })
  .strict();

export const ollamaShowSchema = z
  .object({
    model: z.string().min(1).optional(),
    /** Ollama's older name for `model`. */
    name: z.string().min(1).optional(),
    verbose: z.boolean().optional(),
    system: z.string().optional(),
    template: z.string().optional(),
    options: ollamaOptionsSchema.optional(),
  })
  .strict();

export type OllamaOptions = z.output<typeof ollamaOptionsSchema>;
export type OllamaGenerateBody = z.output<typeof ollamaGenerateSchema>;
export type OllamaChatBody = z.output<typeof ollamaChatSchema>;
