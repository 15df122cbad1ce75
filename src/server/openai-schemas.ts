/**
 * OpenAI request bodies as zod schemas: the fields OpenAI defines (null allowed
 * where OpenAI allows it) and llama.cpp server's extensions
 * (llama-server-fields.ts). Other fields are ignored, or a 400 naming them with
 * server.strict_fields (request-validation.ts). Fields OpenAI defines that this
 * server cannot honour are accepted by the schema and refused with a precise
 * message by openai.ts.
 */
import { z } from "zod";
import { openAiToolCallSchema, openAiToolChoiceSchema, openAiToolSchema } from "./openai-tools.js";
import { llamaSamplingFields, llamaUnavailableFields } from "./llama-server-fields.js";
import { MAX_STOP_STRINGS, samplingRanges, seedField, tokenLimit } from "./request-fields.js";

const stop = z.union([z.string(), z.array(z.string()).max(MAX_STOP_STRINGS, `at most ${MAX_STOP_STRINGS} stop strings`)], {
  error: `expected a string or an array of up to ${MAX_STOP_STRINGS} strings`,
});

const logitBias = z.record(
  z.string().regex(/^\d+$/, "keys must be token ids (non-negative integers as strings)"),
  samplingRanges.logit_bias,
);

const streamOptions = z
  .object({ include_usage: z.boolean().nullish(), include_obfuscation: z.boolean().nullish() })
  .strict();

const jsonSchemaFormat = z
  .object({
    name: z.string().min(1).max(64),
    description: z.string().optional(),
    schema: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullish(),
  })
  .strict();

const responseFormat = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("text") }).strict(),
    z.object({ type: z.literal("json_object") }).strict(),
    z.object({ type: z.literal("json_schema"), json_schema: jsonSchemaFormat }).strict(),
  ],
  { error: 'expected {"type": "text" | "json_object" | "json_schema", ...}' },
);

/** Sampling fields common to chat and completions. */
/** LoRA adapters a request selects: names (scale 1), `{ name, scale }`, or llama-server's `{ id, scale }`. */
const adapterChoice = z.union([
  z.string().min(1),
  z.object({ name: z.string().min(1), scale: z.number().min(-100).max(100).default(1) }).strict(),
  z.object({ id: z.number().int().min(0), scale: z.number().min(-100).max(100).default(1) }).strict(),
]);

const sampling = {
  model: z.string().min(1),
  /** edgelm: LoRA adapters of the model to apply to this request (also `model: "base+adapter"`). */
  adapters: z.array(adapterChoice).max(16).nullish(),
  /** llama-server's per-request adapter scales. */
  lora: z.array(z.object({ id: z.number().int().min(0), scale: z.number().min(-100).max(100) }).strict()).max(16).nullish(),
  stream: z.boolean().nullish(),
  stream_options: streamOptions.nullish(),
  max_tokens: tokenLimit.nullish(),
  temperature: samplingRanges.temperature.nullish(),
  top_p: samplingRanges.top_p.nullish(),
  n: z.number().int().nullish(),
  stop: stop.nullish(),
  seed: seedField.nullish(),
  frequency_penalty: samplingRanges.frequency_penalty.nullish(),
  presence_penalty: samplingRanges.presence_penalty.nullish(),
  logit_bias: logitBias.nullish(),
  response_format: responseFormat.nullish(),
  user: z.string().nullish(),
  // llama.cpp server extensions (llama-server-fields.ts)
  ...llamaSamplingFields,
  ...llamaUnavailableFields,
};

const textPart = z.object({ type: z.literal("text"), text: z.string() }).strict();
const contentPart = z.union([textPart, z.object({ type: z.string() }).passthrough()]);

export const chatMessageSchema = z
  .object({
    role: z.enum(["system", "developer", "user", "assistant", "tool"]),
    content: z.union([z.string(), z.array(contentPart)], { error: "expected a string or an array of content parts" }).nullish(),
    name: z.string().optional(),
    tool_call_id: z.string().optional(),
    tool_calls: z.array(openAiToolCallSchema).nullish(),
    refusal: z.string().nullish(),
    // What the openai SDK's helpers (runTools, parse) add to an assistant message and send back; ignored.
    parsed: z.unknown().optional(),
  })
  .strict();

export const chatCompletionSchema = z
  .object({
    ...sampling,
    messages: z.array(chatMessageSchema).min(1, "must hold at least one message"),
    max_completion_tokens: tokenLimit.nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.number().int().min(0).max(20).nullish(),
    // Accepted and without effect here (they concern OpenAI's platform, not generation).
    store: z.boolean().nullish(),
    metadata: z.record(z.string(), z.string()).nullish(),
    service_tier: z.string().nullish(),
    prompt_cache_key: z.string().nullish(),
    prompt_cache_retention: z.string().nullish(),
    prompt_cache_options: z.unknown().optional(),
    safety_identifier: z.string().nullish(),
    moderation: z.unknown().optional(),
    // Accepted without effect: a small model has one verbosity (its own).
    verbosity: z.enum(["low", "medium", "high"]).nullish(),
    // Tool calling (openai-tools.ts).
    parallel_tool_calls: z.boolean().nullish(),
    tools: z.array(openAiToolSchema).nullish(),
    tool_choice: openAiToolChoiceSchema.nullish(),
    // Defined by OpenAI, refused by openai.ts unless empty.
    functions: z.array(z.unknown()).nullish(),
    function_call: z.unknown().optional(),
    modalities: z.array(z.string()).nullish(),
    audio: z.unknown().optional(),
    prediction: z.unknown().optional(),
    reasoning_effort: z.string().nullish(),
    web_search_options: z.unknown().optional(),
  })
  .strict();

export const completionSchema = z
  .object({
    ...sampling,
    prompt: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))], {
      error: "expected a string or an array of strings",
    }),
    logprobs: z.number().int().min(0).max(20).nullish(),
    echo: z.boolean().nullish(),
    suffix: z.string().nullish(),
    best_of: z.number().int().nullish(),
  })
  .strict();

export const embeddingSchema = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))], {
      error: "expected a string or an array of strings",
    }),
    encoding_format: z.enum(["float", "base64"]).nullish(),
    dimensions: z.number().int().min(1).nullish(),
    user: z.string().nullish(),
  })
  .strict();

export type ChatCompletionBody = z.output<typeof chatCompletionSchema>;
export type CompletionBody = z.output<typeof completionSchema>;
export type EmbeddingBody = z.output<typeof embeddingSchema>;
