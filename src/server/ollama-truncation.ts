/**
 * Ollama's answer to a prompt longer than the context: cut it instead of
 * failing. A chat keeps its system messages and the newest turns that fit; a
 * generate prompt keeps its end. Room is left for the answer: `num_predict`
 * tokens, at most half the context (a quarter when it is unlimited) — the
 * engine never shifts its context while generating. Only a request that has
 * already overflowed is measured, so fitting prompts pay nothing.
 */
import type { ChatMessage, GenerateRequest } from "../engine/types.js";
import { cutTailToTokenBound } from "../engine/context-overflow.js";
import { isEdgeError } from "../errors.js";
import type { RequestContext, ServedModel, ServedStream } from "../scheduler/served-model.js";

/** Generates `request`; on context_overflow (and unless `truncate` is false) once more with the prompt cut to fit. */
export async function generateTruncating(model: ServedModel, request: GenerateRequest, context: RequestContext, truncate: boolean): Promise<ServedStream> {
  try {
    return await model.generate(request, context);
  } catch (error) {
    if (!truncate || !isEdgeError(error) || error.code !== "context_overflow") throw error;
    const details = error.details as { contextSize?: number; longestTokenBytes?: number } | undefined;
    const contextSize = Number(details?.contextSize ?? 0);
    if (!(contextSize > 0)) throw error;
    // Refused on its bytes alone (megabytes): cut to what the context could hold before anything is tokenized.
    const longest = Number(details?.longestTokenBytes ?? 0);
    const fitted = await fitToContext(model, longest > 0 ? cutToBytes(request, contextSize, longest) : request, contextSize);
    if (!fitted) throw error;
    return model.generate(fitted, context);
  }
}

/** The prompt's end, and each message's, within the bytes `contextSize` tokens can hold (see cutTailToTokenBound). */
function cutToBytes(request: GenerateRequest, contextSize: number, longestTokenBytes: number): GenerateRequest {
  return {
    ...request,
    ...(request.prompt !== undefined ? { prompt: cutTailToTokenBound(request.prompt, contextSize, longestTokenBytes) } : {}),
    ...(request.messages ? { messages: request.messages.map((m) => ({ ...m, content: cutTailToTokenBound(m.content, contextSize, longestTokenBytes) })) } : {}),
  };
}

/** Tokens the prompt may take in a context of `contextSize`. */
export function promptBudget(contextSize: number, maxTokens: number | undefined): number {
  const room = maxTokens !== undefined && maxTokens > 0 ? Math.min(maxTokens, Math.floor(contextSize / 2)) : Math.floor(contextSize / 4);
  return Math.max(1, contextSize - Math.max(1, room));
}

/** The request cut to fit, or undefined when nothing can be cut (a single turn longer than the context keeps the error). */
async function fitToContext(model: ServedModel, request: GenerateRequest, contextSize: number): Promise<GenerateRequest | undefined> {
  const budget = promptBudget(request.contextSize ?? contextSize, request.maxTokens);
  if (request.messages && request.messages.length > 0) {
    const messages = await newestTurnsThatFit(model, request.messages, budget);
    return messages ? { ...request, messages } : undefined;
  }
  if (request.prompt !== undefined) {
    const tokens = await model.tokenize(request.prompt, { addBos: request.addBos ?? true });
    if (tokens.length <= budget) return undefined;
    const bos = (await model.tokenize("", { addBos: true }))[0];
    const keepsBos = bos !== undefined && tokens[0] === bos;
    const tail = tokens.slice(tokens.length - (budget - (keepsBos ? 1 : 0)));
    const { prompt: _dropped, ...rest } = request;
    return { ...rest, promptTokens: keepsBos ? [bos, ...tail] : tail };
  }
  return undefined;
}

/**
 * The system messages and the newest other messages whose rendered prompt
 * fits in `budget` tokens (at least the last message), found by bisection; a
 * single turn is cut to its end instead.
 */
async function newestTurnsThatFit(model: ServedModel, messages: ChatMessage[], budget: number): Promise<ChatMessage[] | undefined> {
  const system = messages.filter((m) => m.role === "system");
  const turns = messages.filter((m) => m.role !== "system");
  if (turns.length === 0) return undefined;
  if (turns.length === 1) return withLastTurnCut(model, system, turns[0]!, budget);
  const fits = async (keep: number): Promise<boolean> => {
    const text = await model.renderChat([...system, ...turns.slice(turns.length - keep)]);
    return (await model.tokenize(text, { addBos: true })).length <= budget;
  };
  // Keep as many of the newest turns as fit: the largest `keep` in [1, turns.length - 1] that fits.
  let low = 1;
  let high = turns.length - 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (await fits(mid)) low = mid;
    else high = mid - 1;
  }
  // A tool result without the call it answers confuses templates: start at a user turn when one is kept.
  let kept = turns.slice(turns.length - low);
  const firstUser = kept.findIndex((m) => m.role === "user");
  if (firstUser > 0) kept = kept.slice(firstUser);
  return [...system, ...kept];
}

/** One turn too long on its own (a generate prompt through the template): its text keeps its end. */
async function withLastTurnCut(model: ServedModel, system: ChatMessage[], turn: ChatMessage, budget: number): Promise<ChatMessage[] | undefined> {
  const whole = (await model.tokenize(await model.renderChat([...system, turn]), { addBos: true })).length;
  const content = await model.tokenize(turn.content, { addBos: false });
  const keep = content.length - (whole - budget);
  if (keep <= 0 || keep >= content.length) return undefined;
  return [...system, { ...turn, content: await model.detokenize(content.slice(content.length - keep)) }];
}
