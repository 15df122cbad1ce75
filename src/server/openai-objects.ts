/**
 * OpenAI's response objects: ids, the model object, assistant messages, usage,
 * logprobs in chat and completions form, and the SSE chunk formats of both
 * routes (role, content, tool-call deltas, finish, usage).
 */
import { randomBytes } from "node:crypto";
import type { GeneratedChunk, GenerationResult, TokenLogprob } from "../engine/types.js";
import type { EdgeError, ErrorCode } from "../errors.js";
import type { ServedModelStatus } from "../scheduler/served-model.js";
import { EDGELM_VERSION } from "../version.js";
import { summedTimings, type ChoicesStreamFormat } from "./choices.js";
import { jsonTemplate } from "./json-template.js";
import { openAiToolCalls, toolCallDeltas } from "./openai-tools.js";
import type { SseWriter } from "./sse-writer.js";

/** OpenAI's names for the codes it has an equivalent of; ours otherwise. */
const OPENAI_CODES: Partial<Record<ErrorCode, string>> = {
  context_overflow: "context_length_exceeded",
  unauthorized: "invalid_api_key",
  queue_full: "rate_limit_exceeded",
};

function errorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

export function errorBody(error: EdgeError): unknown {
  return {
    error: {
      message: error.message,
      type: errorType(error.status),
      param: error.param ?? null,
      code: OPENAI_CODES[error.code] ?? error.code,
    },
  };
}

export const SYSTEM_FINGERPRINT = `edgelm-${EDGELM_VERSION}`;

export interface ResponseMeta {
  id: string;
  created: number;
  model: string;
}

export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString("base64url")}`;
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

export function modelObject(model: ServedModelStatus): unknown {
  return {
    id: model.name,
    object: "model",
    created: Math.floor((model.modifiedAt?.getTime() ?? Date.now()) / 1000),
    owned_by: "edgelm",
  };
}

export function assistantMessage(result: GenerationResult): Record<string, unknown> {
  if (!result.toolCalls) return { role: "assistant", content: result.text, refusal: null };
  return { role: "assistant", content: result.text.trim().length > 0 ? result.text : null, refusal: null, tool_calls: openAiToolCalls(result.toolCalls) };
}

/** Usage of one or more choices: the prompt counted once, the completions summed (as OpenAI counts `n`). */
export function usageOf(results: GenerationResult[]): unknown {
  const t = summedTimings(results);
  return {
    prompt_tokens: t.promptTokens,
    completion_tokens: t.completionTokens,
    total_tokens: t.promptTokens + t.completionTokens,
    prompt_tokens_details: { cached_tokens: t.cachedPromptTokens },
  };
}

function utf8Bytes(text: string): number[] {
  return [...Buffer.from(text, "utf8")];
}

export function chatLogprobs(chunk: GeneratedChunk, topN: number): unknown[] {
  return (chunk.logprobs ?? []).map((entry) => ({
    token: entry.token,
    logprob: entry.logprob,
    bytes: utf8Bytes(entry.token),
    top_logprobs: entry.top.slice(0, topN).map((alt: TokenLogprob) => ({ token: alt.token, logprob: alt.logprob, bytes: utf8Bytes(alt.token) })),
  }));
}

export function completionLogprobs(chunks: GeneratedChunk[], topN: number, offset: number): unknown {
  const tokens: string[] = [];
  const tokenLogprobs: number[] = [];
  const top: Array<Record<string, number>> = [];
  const textOffset: number[] = [];
  let at = offset;
  for (const chunk of chunks) {
    for (const entry of chunk.logprobs ?? []) {
      tokens.push(entry.token);
      tokenLogprobs.push(entry.logprob);
      top.push(Object.fromEntries(entry.top.slice(0, topN).map((alt) => [alt.token, alt.logprob])));
      textOffset.push(at);
      at += entry.token.length;
    }
  }
  return { tokens, token_logprobs: tokenLogprobs, top_logprobs: top, text_offset: textOffset };
}

export function chatStreamFormat(writer: SseWriter, meta: ResponseMeta, includeUsage: boolean, topLogprobs: number | undefined): ChoicesStreamFormat {
  const frame = (choices: unknown[]): Record<string, unknown> => ({
    id: meta.id,
    object: "chat.completion.chunk",
    created: meta.created,
    model: meta.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices,
    ...(includeUsage ? { usage: null } : {}),
  });
  /** One choice's frames: its first delta names the role; plain text frames are serialized once (this runs for every token). */
  const choiceFrames = (index: number) => {
    let roleSent = false;
    const delta = (content: string): Record<string, unknown> => {
      const value = roleSent ? { content } : { role: "assistant", content };
      roleSent = true;
      return value;
    };
    const textFrame = jsonTemplate((content) => frame([{ index, delta: { content }, logprobs: null, finish_reason: null }]));
    return {
      chunk(chunk: GeneratedChunk): void {
        const withLogprobs = topLogprobs !== undefined && chunk.logprobs !== undefined;
        if (chunk.text.length === 0 && !withLogprobs) return;
        if (roleSent && !withLogprobs) {
          writer.json(textFrame(chunk.text));
          return;
        }
        writer.data(
          frame([
            {
              index,
              delta: delta(chunk.text),
              logprobs: withLogprobs ? { content: chatLogprobs(chunk, topLogprobs), refusal: null } : null,
              finish_reason: null,
            },
          ]),
        );
      },
      finish(result: GenerationResult): void {
        if (!roleSent) writer.data(frame([{ index, delta: delta(""), logprobs: null, finish_reason: null }]));
        for (const call of toolCallDeltas(result.toolCalls ?? [])) writer.data(frame([{ index, delta: call, logprobs: null, finish_reason: null }]));
        writer.data(frame([{ index, delta: {}, logprobs: null, finish_reason: result.finishReason }]));
      },
    };
  };
  const choices: Array<ReturnType<typeof choiceFrames>> = [];
  const choiceAt = (index: number) => (choices[index] ??= choiceFrames(index));
  return {
    chunk: (index, chunk) => choiceAt(index).chunk(chunk),
    finishChoice: (index, result) => choiceAt(index).finish(result),
    finish(results) {
      if (includeUsage) writer.data({ ...frame([]), usage: usageOf(results) });
      writer.done();
    },
    error(error) {
      writer.error(errorBody(error));
    },
  };
}

export function completionStreamFormat(
  writer: SseWriter,
  meta: ResponseMeta,
  includeUsage: boolean,
  topLogprobs: number | undefined,
  echo: string,
): ChoicesStreamFormat {
  const frame = (index: number, text: string, logprobs: unknown, finishReason: string | null): Record<string, unknown> => ({
    id: meta.id,
    object: "text_completion",
    created: meta.created,
    model: meta.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [{ index, text, logprobs, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  /** One choice's frames: the echoed prompt first, then its text (plain text frames serialized once). */
  const choiceFrames = (index: number) => {
    let offset = echo.length;
    let pendingEcho = echo;
    const textFrame = jsonTemplate((text) => frame(index, text, null, null));
    const flushEcho = (): void => {
      if (pendingEcho.length > 0) writer.data(frame(index, pendingEcho, null, null));
      pendingEcho = "";
    };
    return {
      chunk(chunk: GeneratedChunk): void {
        const withLogprobs = topLogprobs !== undefined && chunk.logprobs !== undefined;
        if (chunk.text.length === 0 && !withLogprobs) return;
        flushEcho();
        if (!withLogprobs) {
          offset += chunk.text.length;
          writer.json(textFrame(chunk.text));
          return;
        }
        const logprobs = completionLogprobs([chunk], topLogprobs, offset);
        offset += chunk.text.length;
        writer.data(frame(index, chunk.text, logprobs, null));
      },
      finish(result: GenerationResult): void {
        flushEcho();
        writer.data(frame(index, "", null, result.finishReason));
      },
    };
  };
  const choices: Array<ReturnType<typeof choiceFrames>> = [];
  const choiceAt = (index: number) => (choices[index] ??= choiceFrames(index));
  return {
    chunk: (index, chunk) => choiceAt(index).chunk(chunk),
    finishChoice: (index, result) => choiceAt(index).finish(result),
    finish(results) {
      if (includeUsage) writer.data({ ...frame(0, "", null, null), choices: [], usage: usageOf(results) });
      writer.done();
    },
    error(error) {
      writer.error(errorBody(error));
    },
  };
}
