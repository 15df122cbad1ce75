/**
 * OpenAI request bodies (chat completions, completions, embeddings) as the
 * engine's GenerateRequest: sampling, stops, seeds, logit bias, response
 * formats, tools, logprobs and llama-server's extra fields; the fields this
 * gateway refuses are named.
 */
import type { ChatMessage, GenerateRequest, ResponseFormat } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import type { ServedModelStatus } from "../scheduler/served-model.js";
import { llamaFieldsRequest } from "./llama-server-fields.js";
import type { ChatCompletionBody, CompletionBody } from "./openai-schemas.js";
import { engineToolCalls, openAiToolRequest } from "./openai-tools.js";
import { checkEmbeddingCount, logitBiasFor, samplerSeed, stopList } from "./request-fields.js";

export function unsupported(param: string, message: string): EdgeError {
  return new EdgeError("unsupported", `${param}: ${message}`, { param });
}

/** Fields chat and completions share, checked against the model. */
export function samplingRequest(body: ChatCompletionBody | CompletionBody, model: ServedModelStatus, maxTokens: number | null | undefined): GenerateRequest {
  const request = llamaFieldsRequest(body);
  if (maxTokens != null) request.maxTokens = maxTokens;
  if (body.temperature != null) request.temperature = body.temperature;
  if (body.top_p != null) request.topP = body.top_p;
  if (body.frequency_penalty != null) request.frequencyPenalty = body.frequency_penalty;
  if (body.presence_penalty != null) request.presencePenalty = body.presence_penalty;
  const seed = samplerSeed(body.seed);
  if (seed !== undefined) request.seed = seed;
  const stop = stopList(body.stop);
  if (stop) request.stop = stop;
  const bias = body.logit_bias ? logitBiasFor(body.logit_bias, model) : undefined;
  if (bias) request.logitBias = bias;
  const format = responseFormatOf(body.response_format);
  if (format && request.responseFormat) {
    throw new EdgeError("invalid_request", "grammar: send either grammar or a response_format that constrains the output, not both", { param: "grammar" });
  }
  if (format) request.responseFormat = format;
  return request;
}

export function responseFormatOf(format: ChatCompletionBody["response_format"]): ResponseFormat | undefined {
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  const { schema, name } = format.json_schema;
  return schema ? { type: "json_schema", schema, name } : { type: "json_object" };
}

export function chatRequest(body: ChatCompletionBody, model: ServedModelStatus): GenerateRequest {
  if (body.functions && body.functions.length > 0) throw unsupported("functions", "the legacy functions field is not supported; send tools");
  if (body.function_call != null && body.function_call !== "none" && body.function_call !== "auto") {
    throw unsupported("function_call", "the legacy function_call field is not supported; send tool_choice");
  }
  if (body.modalities && body.modalities.some((m) => m !== "text")) throw unsupported("modalities", "only text output is supported");
  if (body.audio != null) throw unsupported("audio", "audio output is not supported");
  if (body.prediction != null) throw unsupported("prediction", "predicted outputs are not supported");
  if (body.web_search_options != null) throw unsupported("web_search_options", "web search is not supported");
  if (body.top_logprobs != null && !body.logprobs) {
    throw new EdgeError("invalid_request", "top_logprobs: requires logprobs to be true", { param: "top_logprobs" });
  }
  const messages = chatMessages(body.messages);
  const request = { ...samplingRequest(body, model, body.max_completion_tokens ?? body.max_tokens), ...openAiToolRequest(body) };
  request.messages = messages;
  const topLogprobs = chatTopLogprobs(body);
  if (topLogprobs !== undefined) request.logprobs = Math.max(1, topLogprobs);
  return request;
}

/** OpenAI chat messages as the engine's (text parts only; tool calls and results kept). */
export function chatMessages(input: ChatCompletionBody["messages"]): ChatMessage[] {
  return input.map((message, i) => {
    let content = "";
    if (typeof message.content === "string") content = message.content;
    else if (Array.isArray(message.content)) {
      content = message.content
        .map((part, j) => {
          if (part.type !== "text") throw unsupported(`messages[${i}].content[${j}]`, `only text parts are supported, got "${part.type}"`);
          return (part as { text: string }).text;
        })
        .join("\n");
    } else if (message.role !== "assistant") {
      throw new EdgeError("invalid_request", `messages[${i}].content: required for role ${message.role}`, { param: `messages[${i}].content` });
    }
    const mapped: ChatMessage = { role: message.role === "developer" ? "system" : message.role, content };
    if (message.tool_calls && message.tool_calls.length > 0) mapped.toolCalls = engineToolCalls(message.tool_calls);
    if (message.role === "tool" && message.tool_call_id !== undefined) mapped.toolCallId = message.tool_call_id;
    if (message.role === "tool" && message.name !== undefined) mapped.name = message.name;
    return mapped;
  });
}

/** How many alternatives each chat token's logprobs list: top_logprobs with logprobs, or llama-server's n_probs. */
export function chatTopLogprobs(body: ChatCompletionBody): number | undefined {
  if (body.logprobs) return body.top_logprobs ?? 0;
  return body.n_probs ? body.n_probs : undefined;
}

/** Completions' logprobs count, or llama-server's n_probs. */
export function completionTopLogprobs(body: CompletionBody): number | undefined {
  return body.logprobs ?? (body.n_probs ? body.n_probs : undefined);
}

export function completionRequest(body: CompletionBody, model: ServedModelStatus): { request: GenerateRequest; prompt: string } {
  let prompt: string;
  if (typeof body.prompt === "string") prompt = body.prompt;
  else if (body.prompt.length === 1 && typeof body.prompt[0] === "string") prompt = body.prompt[0];
  else if (body.prompt.length > 0 && typeof body.prompt[0] !== "string") throw unsupported("prompt", "token-id prompts are not supported; send text");
  else throw unsupported("prompt", `one prompt per request is supported, got ${body.prompt.length}`);
  if (body.suffix) throw unsupported("suffix", "insertion (suffix) is not supported");
  if (body.best_of != null && body.best_of !== 1) throw unsupported("best_of", `only best_of=1 is supported, got ${body.best_of}`);
  const request = samplingRequest(body, model, body.max_tokens);
  request.prompt = prompt;
  const logprobs = completionTopLogprobs(body);
  if (logprobs !== undefined) request.logprobs = Math.max(1, logprobs);
  return { request, prompt };
}

export function embeddingInputs(input: string | string[] | number[] | number[][]): string[] {
  if (typeof input === "string") input = [input];
  if (input.length === 0) throw new EdgeError("invalid_request", "input: must not be empty", { param: "input" });
  if (typeof input[0] !== "string") throw unsupported("input", "token-id inputs are not supported; send text");
  checkEmbeddingCount(input.length, "input");
  const texts = input as string[];
  const empty = texts.findIndex((t) => t.length === 0);
  if (empty !== -1) throw new EdgeError("invalid_request", `input[${empty}]: must not be an empty string`, { param: "input" });
  return texts;
}
