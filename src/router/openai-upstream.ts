/**
 * An OpenAI-compatible upstream (a cloud provider, or a peer edgelm gateway)
 * presented as the engine's generate() contract, so the gateway's API
 * dialects stream a remote answer exactly like a local one.
 *
 * generate() resolves only once the first token has arrived (or the answer
 * ended): a request that fails before its first token can still fall back to
 * another route without the client noticing.
 */
import { EdgeError, isEdgeError } from "../errors.js";
import { makeTimings, PushTokenStream } from "../engine/token-stream.js";
import { newToolCallId } from "../engine/tool-calling.js";
import type { ChatMessage, FinishReason, GeneratedChunk, GenerateRequest, TokenLogprob, TokenStream, ToolCall } from "../engine/types.js";
import { parseSse } from "./sse-parser.js";

export interface UpstreamOptions {
  /** Name used in logs, errors and metrics, e.g. "cloud" or "peer-b". */
  name: string;
  /** Base URL up to and including /v1, e.g. https://api.example.com/v1. */
  baseUrl: string;
  apiKey?: string;
  /** Model name the upstream knows. */
  model: string;
  /** Milliseconds to wait for the first token (and between later ones). Default 15000. */
  timeoutMs?: number;
  /** Extra headers (e.g. x-edgelm-hop to stop routing loops between peers). */
  headers?: Record<string, string>;
}

/** A failure that says the upstream is unhealthy (counts against its circuit breaker). */
export function isUpstreamFailure(error: unknown): boolean {
  return isEdgeError(error) && (error.code === "upstream_unavailable" || error.code === "timeout");
}

interface ChatChunk {
  choices?: Array<{
    delta?: { content?: string | null; tool_calls?: Array<{ index?: number; id?: string; function?: { name?: string; arguments?: string } }> };
    text?: string;
    finish_reason?: string | null;
    logprobs?: { content?: Array<{ token: string; logprob: number; top_logprobs?: Array<{ token: string; logprob: number }> }> } | null;
  }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string };
}

/** A chat message in OpenAI's shape, with its calls or the id of the call it answers. */
function upstreamMessage(m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role, content: m.content };
  if (m.toolCalls && m.toolCalls.length > 0) {
    out.tool_calls = m.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } }));
  }
  if (m.toolCallId !== undefined) out.tool_call_id = m.toolCallId;
  return out;
}

export class OpenAIUpstream {
  readonly name: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: UpstreamOptions) {
    this.name = options.name;
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  private body(request: GenerateRequest): { path: string; body: Record<string, unknown> } {
    const chat = request.messages !== undefined && request.messages.length > 0;
    const body: Record<string, unknown> = { model: this.options.model, stream: true, stream_options: { include_usage: true } };
    if (chat) body.messages = request.messages!.map(upstreamMessage);
    else body.prompt = request.prompt ?? "";
    if (request.tools && request.tools.length > 0) {
      body.tools = request.tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.parameters } }));
      const choice = request.toolChoice;
      if (choice !== undefined) body.tool_choice = typeof choice === "string" ? choice : { type: "function", function: { name: choice.name } };
      if (request.parallelToolCalls !== undefined) body.parallel_tool_calls = request.parallelToolCalls;
    }
    if (request.maxTokens !== undefined && request.maxTokens > 0) body.max_tokens = request.maxTokens;
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.topP !== undefined) body.top_p = request.topP;
    if (request.seed !== undefined) body.seed = request.seed;
    if (request.stop && request.stop.length > 0) body.stop = request.stop;
    if (request.frequencyPenalty !== undefined) body.frequency_penalty = request.frequencyPenalty;
    if (request.presencePenalty !== undefined) body.presence_penalty = request.presencePenalty;
    const format = request.responseFormat;
    if (format?.type === "json_object") body.response_format = { type: "json_object" };
    if (format?.type === "json_schema") body.response_format = { type: "json_schema", json_schema: { name: format.name ?? "output", schema: format.schema } };
    if (request.logprobs !== undefined && request.logprobs > 0) {
      if (chat) {
        body.logprobs = true;
        body.top_logprobs = request.logprobs;
      } else body.logprobs = request.logprobs;
    }
    return { path: chat ? "/chat/completions" : "/completions", body };
  }

  async generate(request: GenerateRequest, signal?: AbortSignal): Promise<TokenStream> {
    const startedAt = performance.now();
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    if (signal?.aborted) throw new EdgeError("aborted", "the request was cancelled");
    signal?.addEventListener("abort", onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.timeoutMs);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (error: unknown): EdgeError => {
      if (timedOut) return new EdgeError("timeout", `upstream ${this.name} sent nothing for ${this.timeoutMs} ms`);
      if (signal?.aborted) return new EdgeError("aborted", "the request was cancelled");
      if (isEdgeError(error)) return error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (error as Error).message;
      return new EdgeError("upstream_unavailable", `cannot reach upstream ${this.name} at ${this.options.baseUrl}: ${why}`);
    };

    const { path, body } = this.body(request);
    arm();
    let response: Response;
    try {
      response = await fetch(`${this.options.baseUrl.replace(/\/$/, "")}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "text/event-stream",
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
          ...this.options.headers,
        },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (error) {
      cleanup();
      throw fail(error);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      cleanup();
      throw this.statusError(response.status, text, response.headers.get("retry-after"));
    }
    if (!response.body) {
      cleanup();
      throw new EdgeError("upstream_unavailable", `upstream ${this.name} sent an empty response`);
    }

    const events = parseSse(response.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    const stream = new PushTokenStream(() => controller.abort());
    let text = "";
    let finishReason: FinishReason = "stop";
    const toolCalls: ToolCall[] = [];
    let promptTokens = 0;
    let completionTokens = 0;
    let pieces = 0;
    let firstTokenAt: number | undefined;

    /** Reads events until one carries text (or the answer ends); returns false at the end. */
    const pump = async (): Promise<boolean> => {
      for (;;) {
        const next = await events.next();
        if (next.done || next.value.data === "[DONE]") return false;
        arm();
        let chunk: ChatChunk;
        try {
          chunk = JSON.parse(next.value.data) as ChatChunk;
        } catch {
          throw new EdgeError("upstream_unavailable", `upstream ${this.name} sent malformed JSON in its stream`);
        }
        if (chunk.error) throw new EdgeError("upstream_unavailable", `upstream ${this.name}: ${chunk.error.message ?? "error"}`);
        if (chunk.usage) {
          promptTokens = chunk.usage.prompt_tokens ?? promptTokens;
          completionTokens = chunk.usage.completion_tokens ?? completionTokens;
        }
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        if (choice.finish_reason) finishReason = choice.finish_reason === "length" ? "length" : choice.finish_reason === "tool_calls" ? "tool_calls" : "stop";
        for (const delta of choice.delta?.tool_calls ?? []) {
          // OpenAI's stream: a call's id and name first, then its arguments in pieces, by index.
          const call = (toolCalls[delta.index ?? 0] ??= { id: "", name: "", arguments: "" });
          if (delta.id) call.id = delta.id;
          if (delta.function?.name) call.name += delta.function.name;
          if (delta.function?.arguments) call.arguments += delta.function.arguments;
        }
        const piece = choice.delta?.content ?? choice.text ?? "";
        const logprobs = choice.logprobs?.content?.map((l) => ({
          token: l.token,
          id: -1,
          logprob: l.logprob,
          top: (l.top_logprobs ?? []).map((t): TokenLogprob => ({ token: t.token, id: -1, logprob: t.logprob })),
        }));
        if (piece.length === 0 && !logprobs?.length) continue;
        firstTokenAt ??= performance.now();
        pieces++;
        text += piece;
        const out: GeneratedChunk = { text: piece, tokens: [] };
        if (logprobs?.length) out.logprobs = logprobs;
        stream.push(out);
        return true;
      }
    };

    const finish = (): void => {
      cleanup();
      const calls = toolCalls.filter((c) => c !== undefined && c.name.length > 0);
      stream.end({
        text,
        finishReason: finishReason === "tool_calls" && calls.length === 0 ? "stop" : finishReason,
        ...(calls.length > 0 ? { toolCalls: calls.map((c) => ({ ...c, id: c.id || newToolCallId(), arguments: c.arguments || "{}" })) } : {}),
        timings: makeTimings({
          startedAt,
          firstTokenAt,
          promptDoneAt: firstTokenAt,
          endedAt: performance.now(),
          promptTokens,
          cachedPromptTokens: 0,
          completionTokens: completionTokens || pieces,
        }),
      });
    };

    // Wait for the first token before answering, so failures so far can fall back.
    try {
      if (!(await pump())) {
        finish();
        return stream;
      }
    } catch (error) {
      cleanup();
      controller.abort();
      throw fail(error);
    }
    void (async () => {
      try {
        while (await pump()) {
          /* chunks are pushed by pump */
        }
        finish();
      } catch (error) {
        cleanup();
        if (signal?.aborted || controller.signal.aborted) {
          if (timedOut) stream.fail(fail(error));
          else {
            finishReason = "abort";
            finish();
          }
        } else stream.fail(fail(error));
      }
    })();
    return stream;
  }

  private statusError(status: number, body: string, retryAfter: string | null): EdgeError {
    let message = body.slice(0, 300);
    try {
      const parsed = JSON.parse(body) as { error?: { message?: string } | string };
      message = typeof parsed.error === "string" ? parsed.error : parsed.error?.message ?? message;
    } catch {
      // not JSON: keep the text
    }
    const retry = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : undefined;
    if (status >= 500 || status === 429 || status === 408) {
      return new EdgeError("upstream_unavailable", `upstream ${this.name} answered ${status}: ${message}`, {
        details: { status },
        ...(retry !== undefined ? { retryAfter: retry } : {}),
      });
    }
    return new EdgeError("invalid_request", `upstream ${this.name} refused the request (${status}): ${message}`, { details: { status } });
  }
}
