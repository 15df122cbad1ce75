/**
 * edgelm.v1 request messages (as @grpc/proto-loader decodes them: .proto
 * field names, enums by name, unset fields absent) checked and mapped to the
 * engine's one internal request. Checks use the same ranges and helpers as the
 * HTTP dialects (request-fields.ts) and name the field at fault the same way
 * (`options.temperature: ...`), which becomes INVALID_ARGUMENT.
 */
import { z } from "zod";
import type { ChatMessage, GenerateRequest, ResponseFormat, Role, ToolChoice, ToolDefinition } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import type { ServedModelStatus } from "../scheduler/served-model.js";
import { logitBiasFor, MAX_EMBEDDING_INPUTS, MAX_STOP_STRINGS, samplerSeed, samplingRanges, seedField, stopList, tokenLimit } from "../server/request-fields.js";
import { parseBody } from "../server/request-validation.js";

const modelName = z.string({ error: "required: a served model's name (see ListModels)" }).min(1, "required: a served model's name (see ListModels)");

const responseFormat = z.object({
  type: z.enum(["TYPE_TEXT", "TYPE_JSON_OBJECT", "TYPE_JSON_SCHEMA", "TYPE_GRAMMAR"]).optional(),
  json_schema: z.string().optional(),
  name: z.string().max(64).optional(),
  grammar: z.string().optional(),
});

const options = z.object({
  max_tokens: tokenLimit.optional(),
  stop: z.array(z.string()).max(MAX_STOP_STRINGS, `at most ${MAX_STOP_STRINGS} stop strings`).optional(),
  temperature: samplingRanges.temperature.optional(),
  top_k: samplingRanges.top_k.optional(),
  top_p: samplingRanges.top_p.optional(),
  min_p: samplingRanges.min_p.optional(),
  repeat_penalty: samplingRanges.repeat_penalty.optional(),
  repeat_last_n: samplingRanges.repeat_last_n.optional(),
  frequency_penalty: samplingRanges.frequency_penalty.optional(),
  presence_penalty: samplingRanges.presence_penalty.optional(),
  seed: seedField.optional(),
  logit_bias: z.record(z.string(), samplingRanges.logit_bias).optional(),
  response_format: responseFormat.optional(),
  logprobs: z.number().int().min(0).max(20, "at most 20 alternatives").optional(),
  context_size: z.number().int().min(16).optional(),
  cache_prompt: z.boolean().optional(),
});

type Options = z.output<typeof options>;

const toolCall = z.object({ id: z.string().optional(), name: z.string().min(1), arguments_json: z.string().optional() });

const message = z.object({
  role: z.enum(["ROLE_SYSTEM", "ROLE_USER", "ROLE_ASSISTANT", "ROLE_TOOL"], { error: "expected ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL" }),
  content: z.string().optional(),
  tool_calls: z.array(toolCall).optional(),
  tool_call_id: z.string().optional(),
  name: z.string().optional(),
});

const tool = z.object({ name: z.string().min(1), description: z.string().optional(), parameters_json: z.string().optional() });

const generateSchema = z.object({ model: modelName, prompt: z.string().optional(), options: options.optional(), add_bos: z.boolean().optional() });

const chatSchema = z.object({
  model: modelName,
  messages: z.array(message).min(1, "at least one message"),
  options: options.optional(),
  tools: z.array(tool).optional(),
  tool_choice: z.object({ mode: z.enum(["MODE_AUTO", "MODE_NONE", "MODE_REQUIRED", "MODE_FUNCTION"]).optional(), function: z.string().optional() }).optional(),
  parallel_tool_calls: z.boolean().optional(),
});

const embedSchema = z.object({
  model: modelName,
  inputs: z
    .array(z.string().min(1, "must not be an empty string"))
    .min(1, "at least one text")
    .max(MAX_EMBEDDING_INPUTS, `at most ${MAX_EMBEDDING_INPUTS} texts per request`),
  truncate: z.boolean().optional(),
});

const tokenizeSchema = z.object({ model: modelName, text: z.string().optional(), add_bos: z.boolean().optional() });

const getModelSchema = z.object({ name: modelName });

export type GenerateMessage = z.output<typeof generateSchema>;
export type ChatMessageRequest = z.output<typeof chatSchema>;
export type EmbedMessage = z.output<typeof embedSchema>;
export type TokenizeMessage = z.output<typeof tokenizeSchema>;

export const parseGenerate = (request: unknown): GenerateMessage => parseBody(generateSchema, request ?? {});
export const parseChat = (request: unknown): ChatMessageRequest => parseBody(chatSchema, request ?? {});
export const parseEmbed = (request: unknown): EmbedMessage => parseBody(embedSchema, request ?? {});
export const parseTokenize = (request: unknown): TokenizeMessage => parseBody(tokenizeSchema, request ?? {});
export const parseGetModel = (request: unknown): string => parseBody(getModelSchema, request ?? {}).name;

/** JSON text that must hold an object, or invalid_request naming `param`. */
function jsonObject(text: string, param: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new EdgeError("invalid_request", `${param}: not valid JSON (${(error as Error).message})`, { param });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new EdgeError("invalid_request", `${param}: must be a JSON object`, { param });
  return value as Record<string, unknown>;
}

function formatOf(format: Options["response_format"]): ResponseFormat | undefined {
  const param = "options.response_format";
  switch (format?.type) {
    case undefined:
    case "TYPE_TEXT":
      return undefined;
    case "TYPE_JSON_OBJECT":
      return { type: "json_object" };
    case "TYPE_JSON_SCHEMA": {
      if (!format.json_schema) throw new EdgeError("invalid_request", `${param}.json_schema: required for TYPE_JSON_SCHEMA`, { param: `${param}.json_schema` });
      const schema = jsonObject(format.json_schema, `${param}.json_schema`);
      return { type: "json_schema", schema, ...(format.name ? { name: format.name } : {}) };
    }
    case "TYPE_GRAMMAR":
      if (!format.grammar) throw new EdgeError("invalid_request", `${param}.grammar: required for TYPE_GRAMMAR`, { param: `${param}.grammar` });
      return { type: "grammar", gbnf: format.grammar };
  }
}

/** The sampling and limit fields of `options`, checked against `model`. */
function optionsRequest(given: Options | undefined, model: ServedModelStatus): GenerateRequest {
  const o = given ?? {};
  const request: GenerateRequest = {};
  if (o.max_tokens !== undefined) request.maxTokens = o.max_tokens;
  const stop = stopList(o.stop);
  if (stop) request.stop = stop;
  if (o.temperature !== undefined) request.temperature = o.temperature;
  if (o.top_k !== undefined) request.topK = o.top_k;
  if (o.top_p !== undefined) request.topP = o.top_p;
  if (o.min_p !== undefined) request.minP = o.min_p;
  if (o.repeat_penalty !== undefined) request.repeatPenalty = o.repeat_penalty;
  if (o.repeat_last_n !== undefined) request.repeatLastN = o.repeat_last_n;
  if (o.frequency_penalty !== undefined) request.frequencyPenalty = o.frequency_penalty;
  if (o.presence_penalty !== undefined) request.presencePenalty = o.presence_penalty;
  const seed = samplerSeed(o.seed);
  if (seed !== undefined) request.seed = seed;
  const bias = o.logit_bias ? logitBiasFor(o.logit_bias, model, "options.logit_bias") : undefined;
  if (bias) request.logitBias = bias;
  const format = formatOf(o.response_format);
  if (format) request.responseFormat = format;
  if (o.logprobs) request.logprobs = o.logprobs;
  if (o.context_size !== undefined) request.contextSize = o.context_size;
  if (o.cache_prompt !== undefined) request.cachePrompt = o.cache_prompt;
  return request;
}

/** Generate → a raw-prompt request. */
export function generateRequest(message: GenerateMessage, model: ServedModelStatus): GenerateRequest {
  const request = optionsRequest(message.options, model);
  request.prompt = message.prompt ?? "";
  if (message.add_bos !== undefined) request.addBos = message.add_bos;
  return request;
}

const ROLES: Record<z.output<typeof message>["role"], Role> = { ROLE_SYSTEM: "system", ROLE_USER: "user", ROLE_ASSISTANT: "assistant", ROLE_TOOL: "tool" };

/** Chat → a chat request, tools included. */
export function chatRequest(body: ChatMessageRequest, model: ServedModelStatus): GenerateRequest {
  const request = optionsRequest(body.options, model);
  request.messages = body.messages.map((m, i): ChatMessage => {
    const mapped: ChatMessage = { role: ROLES[m.role], content: m.content ?? "" };
    if (m.tool_calls && m.tool_calls.length > 0) {
      mapped.toolCalls = m.tool_calls.map((c, j) => ({ id: c.id || `call_${i}_${j}`, name: c.name, arguments: c.arguments_json || "{}" }));
    }
    if (m.role === "ROLE_TOOL" && m.tool_call_id) mapped.toolCallId = m.tool_call_id;
    if (m.role === "ROLE_TOOL" && m.name) mapped.name = m.name;
    return mapped;
  });
  const tools: ToolDefinition[] = (body.tools ?? []).map((t, i) => ({
    name: t.name,
    ...(t.description ? { description: t.description } : {}),
    ...(t.parameters_json ? { parameters: jsonObject(t.parameters_json, `tools[${i}].parameters_json`) } : {}),
  }));
  if (tools.length > 0) request.tools = tools;
  const choice = toolChoiceOf(body.tool_choice);
  if (choice) request.toolChoice = choice;
  if (body.parallel_tool_calls !== undefined) request.parallelToolCalls = body.parallel_tool_calls;
  return request;
}

function toolChoiceOf(choice: ChatMessageRequest["tool_choice"]): ToolChoice | undefined {
  switch (choice?.mode) {
    case undefined:
      return choice?.function ? { name: choice.function } : undefined;
    case "MODE_AUTO":
      return "auto";
    case "MODE_NONE":
      return "none";
    case "MODE_REQUIRED":
      return "required";
    case "MODE_FUNCTION":
      if (!choice.function) throw new EdgeError("invalid_request", "tool_choice.function: required for MODE_FUNCTION", { param: "tool_choice.function" });
      return { name: choice.function };
  }
}
