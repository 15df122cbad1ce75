/**
 * `POST /v1/responses` request body as a zod schema: the fields this gateway
 * implements and fields accepted without effect (platform concerns); other
 * fields are ignored, or a 400 naming them with server.strict_fields. Fields OpenAI defines that cannot
 * be honoured are accepted here and refused by name in responses.ts.
 */
import { z } from "zod";
import { seedField, tokenLimit } from "./request-fields.js";

const textPart = z.object({ type: z.enum(["input_text", "output_text"]), text: z.string() }).passthrough();
const otherPart = z.object({ type: z.string() }).passthrough();

const messageItem = z
  .object({
    type: z.literal("message").optional(),
    id: z.string().optional(),
    role: z.enum(["user", "assistant", "system", "developer"]),
    content: z.union([z.string(), z.array(z.union([textPart, otherPart]))]),
    status: z.string().optional(),
  })
  .strict();

const functionCallItem = z
  .object({
    type: z.literal("function_call"),
    id: z.string().optional(),
    call_id: z.string().min(1),
    name: z.string().min(1),
    arguments: z.string(),
    status: z.string().optional(),
  })
  .strict();

const functionCallOutputItem = z
  .object({
    type: z.literal("function_call_output"),
    id: z.string().optional(),
    call_id: z.string().min(1),
    output: z.union([z.string(), z.array(z.union([textPart, otherPart]))]),
    status: z.string().optional(),
  })
  .strict();

export const responseInputItem = z.union([functionCallItem, functionCallOutputItem, messageItem, otherPart], {
  error: "expected a message, function_call or function_call_output item",
});

const functionTool = z
  .object({
    type: z.literal("function"),
    name: z.string(),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  })
  .strict();

const textFormat = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("text") }).strict(),
    z.object({ type: z.literal("json_object") }).strict(),
    z
      .object({
        type: z.literal("json_schema"),
        name: z.string().min(1).max(64),
        schema: z.record(z.string(), z.unknown()),
        description: z.string().optional(),
        strict: z.boolean().nullish(),
      })
      .strict(),
  ],
  { error: 'expected {"type": "text" | "json_object" | "json_schema", ...}' },
);

export const responsesSchema = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(responseInputItem)]).optional(),
    instructions: z.string().nullish(),
    max_output_tokens: tokenLimit.nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    text: z.object({ format: textFormat.optional(), verbosity: z.string().nullish() }).strict().nullish(),
    tools: z.array(z.union([functionTool, otherPart])).nullish(),
    tool_choice: z
      .union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), name: z.string() }).strict(), otherPart])
      .nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    stream: z.boolean().nullish(),
    store: z.boolean().nullish(),
    previous_response_id: z.string().nullish(),
    // llama.cpp's extension, as in chat completions.
    seed: seedField.nullish(),
    // Accepted without effect (they concern OpenAI's platform, not generation).
    metadata: z.record(z.string(), z.string()).nullish(),
    user: z.string().nullish(),
    service_tier: z.string().nullish(),
    truncation: z.enum(["auto", "disabled"]).nullish(),
    include: z.array(z.string()).nullish(),
    prompt_cache_key: z.string().nullish(),
    safety_identifier: z.string().nullish(),
    stream_options: z.object({ include_obfuscation: z.boolean().nullish() }).strict().nullish(),
    // Defined by OpenAI, refused by responses.ts.
    reasoning: z.unknown().optional(),
    background: z.boolean().nullish(),
    conversation: z.unknown().optional(),
    prompt: z.unknown().optional(),
    top_logprobs: z.number().int().nullish(),
    max_tool_calls: z.number().int().nullish(),
  })
  .strict();

export type ResponsesBody = z.output<typeof responsesSchema>;
export type ResponseInputItem = z.output<typeof responseInputItem>;
