/**
 * Ollama's request bodies as the engine's GenerateRequest: options (sampling,
 * num_predict, num_ctx, stop, seed), `format`, `keep_alive`, and the fields
 * this gateway refuses by name (images, suffix, think, the deprecated context).
 */
import type { GenerateRequest, ResponseFormat } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import { parseKeepAlive } from "../scheduler/keep-alive.js";
import type { ServedModelStatus } from "../scheduler/served-model.js";
import type { OllamaChatBody, OllamaGenerateBody, OllamaOptions } from "./ollama-schemas.js";
import { ollamaChatMessage, ollamaTools } from "./ollama-tools.js";
import { samplerSeed, stopList } from "./request-fields.js";

/** keep_alive in ms (null = forever, undefined = the model's default); a malformed one is a 400. */
export function keepAliveOf(value: string | number | undefined): number | null | undefined {
  const ms = parseKeepAlive(value);
  if (Number.isNaN(ms)) throw new EdgeError("invalid_request", `keep_alive: expected seconds or a duration such as "5m", "90s", "1h" (negative = forever), got ${JSON.stringify(value)}`, { param: "keep_alive" });
  return ms;
}

function unsupported(param: string, message: string): EdgeError {
  return new EdgeError("unsupported", `${param}: ${message}`, { param });
}

/** Ollama's options and format as engine settings. */
function optionsRequest(options: OllamaOptions | undefined, format: OllamaChatBody["format"], model: ServedModelStatus): GenerateRequest {
  const request: GenerateRequest = {};
  const o = options ?? {};
  const served = model.info?.contextSize ?? model.summary?.contextLength;
  if (o.num_predict !== undefined) request.maxTokens = o.num_predict;
  // num_ctx is a load-time setting in Ollama; here it can narrow this request's context, not widen the served one.
  if (o.num_ctx !== undefined && (served === undefined || o.num_ctx < served)) request.contextSize = o.num_ctx;
  if (o.temperature !== undefined) request.temperature = o.temperature;
  if (o.top_k !== undefined) request.topK = o.top_k;
  if (o.top_p !== undefined) request.topP = o.top_p;
  if (o.min_p !== undefined) request.minP = o.min_p;
  if (o.typical_p !== undefined) request.typicalP = o.typical_p;
  if (o.repeat_penalty !== undefined) request.repeatPenalty = o.repeat_penalty;
  if (o.repeat_last_n !== undefined) request.repeatLastN = o.repeat_last_n === -1 ? (request.contextSize ?? served ?? 64) : o.repeat_last_n;
  if (o.presence_penalty !== undefined) request.presencePenalty = o.presence_penalty;
  if (o.frequency_penalty !== undefined) request.frequencyPenalty = o.frequency_penalty;
  const seed = samplerSeed(o.seed);
  if (seed !== undefined) request.seed = seed;
  const stop = stopList(o.stop);
  if (stop) request.stop = stop;
  const responseFormat = formatOf(format);
  if (responseFormat) request.responseFormat = responseFormat;
  return request;
}

function formatOf(format: OllamaChatBody["format"]): ResponseFormat | undefined {
  if (format === undefined || format === "") return undefined;
  if (format === "json") return { type: "json_object" };
  return { type: "json_schema", schema: format };
}

function checkCommon(body: { think?: boolean | string | undefined; top_logprobs?: number | undefined; logprobs?: boolean | undefined }): void {
  if (body.think !== undefined && body.think !== false) throw unsupported("think", "this model does not support thinking");
  if (body.top_logprobs !== undefined && body.top_logprobs > 0 && !body.logprobs) {
    throw new EdgeError("invalid_request", "top_logprobs: requires logprobs to be true", { param: "top_logprobs" });
  }
}

/** The engine request for /api/generate, or undefined for a load-only request (no prompt). */
export function generateRequest(body: OllamaGenerateBody, model: ServedModelStatus): GenerateRequest | undefined {
  checkCommon(body);
  if (body.images && body.images.length > 0) throw unsupported("images", "this model does not support images");
  if (body.suffix) throw unsupported("suffix", "this model does not support insertion (suffix)");
  if (body.template) throw unsupported("template", "custom prompt templates are not supported; send raw:true with a formatted prompt");
  if (body.context && body.context.length > 0) throw unsupported("context", "the deprecated context field is not supported; use /api/chat for conversations");
  if (!body.prompt) return undefined;
  const request = optionsRequest(body.options, body.format, model);
  const templated = model.summary?.chatTemplate !== undefined && body.raw !== true;
  if (templated) {
    request.messages = [...(body.system ? [{ role: "system" as const, content: body.system }] : []), { role: "user" as const, content: body.prompt }];
  } else {
    request.prompt = body.prompt;
  }
  if (body.logprobs) request.logprobs = Math.max(1, body.top_logprobs ?? 0);
  return request;
}

export function chatRequest(body: OllamaChatBody, model: ServedModelStatus): GenerateRequest | undefined {
  checkCommon(body);
  const messages = body.messages ?? [];
  messages.forEach((m, i) => {
    if (m.images && m.images.length > 0) throw unsupported(`messages[${i}].images`, "this model does not support images");
  });
  if (messages.length === 0) return undefined;
  const request = optionsRequest(body.options, body.format, model);
  request.messages = messages.map(ollamaChatMessage);
  if (body.tools && body.tools.length > 0) request.tools = ollamaTools(body.tools);
  if (body.logprobs) request.logprobs = Math.max(1, body.top_logprobs ?? 0);
  return request;
}
