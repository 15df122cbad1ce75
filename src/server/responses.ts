/**
 * OpenAI's Responses API, `POST /v1/responses`, on top of the same engine
 * request as chat completions: `input` (a string or items: messages,
 * `function_call`, `function_call_output`) and `instructions` become chat
 * messages; `text.format`, function `tools`, sampling and `max_output_tokens`
 * map as in chat; the answer is a Response object with `message` and
 * `function_call` output items, or (`stream: true`) the typed event sequence
 * the `openai` package's Responses stream helper consumes. `previous_response_id`
 * continues a conversation kept in a bounded in-memory ResponseStore
 * (`store: false` keeps nothing). Errors take OpenAI's shape (the OpenAI dialect's /v1/ prefix).
 */
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { ChatMessage, GenerateRequest, GenerationResult, ResponseFormat, ToolCall, ToolChoice, ToolDefinition } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import type { ApiDialect } from "./api-dialect.js";
import { scopeOf } from "./app.js";
import type { DialectHost } from "./app-host.js";
import { collectGeneration, endCollected, setRouteHeaders, streamGeneration, type StreamFormat } from "./generation-response.js";
import { samplerSeed } from "./request-fields.js";
import { parseRequestBody } from "./request-validation.js";
import { ResponseStore } from "./response-store.js";
import { responsesSchema, type ResponseInputItem, type ResponsesBody } from "./responses-schemas.js";
import { SseWriter } from "./sse-writer.js";

/** Registers `POST /v1/responses`; `dialect` shapes its errors (OpenAI's). */
export function registerResponses(app: FastifyInstance, host: DialectHost, dialect: ApiDialect): void {
  const timeoutMs = host.requestTimeoutMs;
  const store = new ResponseStore(host.responseStoreLimits?.entries, host.responseStoreLimits?.bytes);

  app.post("/v1/responses", async (request, reply) => {
    const scope = scopeOf(request, "openai.responses");
    const body = parseRequestBody(responsesSchema, request, reply, host);
    const model = host.directory.lookup(body.model);
    const { generate, history } = responsesRequest(body, store);
    scope.begin(model.name, body.stream === true, timeoutMs);
    const stream = await model.generate(generate, scope);
    setRouteHeaders(reply, stream);
    const response = new ResponseObject(body, model.name);
    const keep = (result: GenerationResult): void => {
      if (body.store !== false) store.put(response.id, model.name, [...history, ...outputMessages(result)]);
    };
    if (body.stream) {
      const writer = new SseWriter(reply.raw);
      await streamGeneration(reply, scope, stream, writer, responseEvents(writer, response, dialect, keep), dialect);
      return reply;
    }
    const collected = await collectGeneration(scope, stream);
    endCollected(scope, stream, collected);
    keep(collected.result);
    return response.finished(collected.result);
  });
}

function unsupported(param: string, message: string): EdgeError {
  return new EdgeError("unsupported", `${param}: ${message}`, { param });
}

function invalid(param: string, message: string): EdgeError {
  return new EdgeError("invalid_request", `${param}: ${message}`, { param });
}

/** The engine request for a Responses body, and the conversation (without instructions) it continues. */
function responsesRequest(body: ResponsesBody, store: ResponseStore): { generate: GenerateRequest; history: ChatMessage[] } {
  if (body.reasoning != null) throw unsupported("reasoning", "reasoning models are not served here");
  if (body.background) throw unsupported("background", "background responses are not supported");
  if (body.conversation != null) throw unsupported("conversation", "conversations are not supported; use previous_response_id");
  if (body.prompt != null) throw unsupported("prompt", "stored prompt templates are not supported");
  if (body.top_logprobs != null && body.top_logprobs > 0) throw unsupported("top_logprobs", "log-probabilities are not returned by /v1/responses; use /v1/chat/completions");
  if (body.max_tool_calls != null) throw unsupported("max_tool_calls", "not supported; use parallel_tool_calls");
  let history: ChatMessage[] = [];
  if (body.previous_response_id) {
    const previous = store.get(body.previous_response_id);
    if (!previous) {
      throw new EdgeError("response_not_found", `previous_response_id: no stored response "${body.previous_response_id}" (responses live in this gateway's memory, bounded by server.responses_store_entries)`, {
        param: "previous_response_id",
      });
    }
    history = [...previous.messages];
  }
  const input = body.input ?? [];
  history.push(...(typeof input === "string" ? [{ role: "user" as const, content: input }] : inputMessages(input, history)));
  if (history.length === 0) throw invalid("input", "must hold at least one message");
  const generate: GenerateRequest = {
    messages: body.instructions ? [{ role: "system", content: body.instructions }, ...history] : [...history],
  };
  if (body.max_output_tokens != null) generate.maxTokens = body.max_output_tokens;
  if (body.temperature != null) generate.temperature = body.temperature;
  if (body.top_p != null) generate.topP = body.top_p;
  const seed = samplerSeed(body.seed);
  if (seed !== undefined) generate.seed = seed;
  const format = textFormatOf(body.text?.format);
  if (format) generate.responseFormat = format;
  const tools = toolsOf(body.tools ?? []);
  if (tools.length > 0) generate.tools = tools;
  if (body.tool_choice != null) generate.toolChoice = toolChoiceOf(body.tool_choice);
  if (body.parallel_tool_calls != null) generate.parallelToolCalls = body.parallel_tool_calls;
  return { generate, history };
}

function textOf(content: string | Array<{ type: string; text?: unknown }>, param: string): string {
  if (typeof content === "string") return content;
  return content
    .map((part, j) => {
      if (part.type !== "input_text" && part.type !== "output_text") throw unsupported(`${param}[${j}]`, `only text parts are supported, got "${part.type}"`);
      return String(part.text);
    })
    .join("\n");
}

/** Input items as chat messages; consecutive function calls join one assistant turn, outputs find their call's name. */
function inputMessages(items: readonly ResponseInputItem[], before: readonly ChatMessage[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  const callNames = new Map<string, string>();
  for (const m of before) for (const c of m.toolCalls ?? []) callNames.set(c.id, c.name);
  items.forEach((item, i) => {
    const type = item.type ?? "message";
    if (type === "message") {
      const m = item as { role: "user" | "assistant" | "system" | "developer"; content: string | Array<{ type: string; text?: unknown }> };
      messages.push({ role: m.role === "developer" ? "system" : m.role, content: textOf(m.content, `input[${i}].content`) });
    } else if (type === "function_call") {
      const c = item as { call_id: string; name: string; arguments: string };
      callNames.set(c.call_id, c.name);
      const call: ToolCall = { id: c.call_id, name: c.name, arguments: c.arguments };
      const last = messages.at(-1);
      if (last?.role === "assistant") last.toolCalls = [...(last.toolCalls ?? []), call];
      else messages.push({ role: "assistant", content: "", toolCalls: [call] });
    } else if (type === "function_call_output") {
      const o = item as { call_id: string; output: string | Array<{ type: string; text?: unknown }> };
      const name = callNames.get(o.call_id);
      messages.push({ role: "tool", content: textOf(o.output, `input[${i}].output`), toolCallId: o.call_id, ...(name ? { name } : {}) });
    } else {
      throw unsupported(`input[${i}].type`, `only message, function_call and function_call_output items are supported, got "${type}"`);
    }
  });
  return messages;
}

function textFormatOf(format: NonNullable<ResponsesBody["text"]>["format"]): ResponseFormat | undefined {
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  return { type: "json_schema", schema: format.schema, name: format.name };
}

function toolsOf(tools: NonNullable<ResponsesBody["tools"]>): ToolDefinition[] {
  return tools.map((tool, i) => {
    if (tool.type !== "function") throw unsupported(`tools[${i}].type`, `only function tools are supported, got "${tool.type}"`);
    const fn = tool as { name: string; description?: string | null; parameters?: Record<string, unknown> | null };
    return { name: fn.name, ...(fn.description ? { description: fn.description } : {}), ...(fn.parameters ? { parameters: fn.parameters } : {}) };
  });
}

function toolChoiceOf(choice: NonNullable<ResponsesBody["tool_choice"]>): ToolChoice {
  if (typeof choice === "string") return choice;
  if (choice.type === "function" && typeof (choice as { name?: unknown }).name === "string") return { name: (choice as { name: string }).name };
  throw unsupported("tool_choice", `only "none", "auto", "required" or {"type": "function", "name": ...} are supported, got type "${choice.type}"`);
}

/** What the model said and called, as messages to continue from. */
function outputMessages(result: GenerationResult): ChatMessage[] {
  return [{ role: "assistant", content: result.text, ...(result.toolCalls ? { toolCalls: result.toolCalls } : {}) }];
}

function newId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString("hex")}`;
}

/** One Response: its id, the echo of its settings, and its output items. */
class ResponseObject {
  readonly id = newId("resp");
  readonly messageId = newId("msg");
  private readonly createdAt = Math.floor(Date.now() / 1000);

  constructor(
    private readonly body: ResponsesBody,
    private readonly model: string,
  ) {}

  /** The object as a whole, in a state (`in_progress` while streaming). */
  snapshot(status: "in_progress" | "completed" | "incomplete", output: unknown[] = [], result?: GenerationResult): Record<string, unknown> {
    const b = this.body;
    const t = result?.timings;
    return {
      id: this.id,
      object: "response",
      created_at: this.createdAt,
      status,
      background: false,
      error: null,
      incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
      instructions: b.instructions ?? null,
      max_output_tokens: b.max_output_tokens ?? null,
      model: this.model,
      output,
      parallel_tool_calls: b.parallel_tool_calls ?? true,
      previous_response_id: b.previous_response_id ?? null,
      store: b.store !== false,
      temperature: b.temperature ?? null,
      top_p: b.top_p ?? null,
      text: { format: b.text?.format ?? { type: "text" } },
      tool_choice: b.tool_choice ?? "auto",
      tools: b.tools ?? [],
      truncation: "disabled",
      metadata: b.metadata ?? {},
      usage: t
        ? {
            input_tokens: t.promptTokens,
            input_tokens_details: { cached_tokens: t.cachedPromptTokens },
            output_tokens: t.completionTokens,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: t.promptTokens + t.completionTokens,
          }
        : null,
    };
  }

  messageItem(text: string, status: "in_progress" | "completed"): Record<string, unknown> {
    return { id: this.messageId, type: "message", status, role: "assistant", content: status === "completed" ? [outputText(text)] : [] };
  }

  /** The final object of a finished generation. */
  finished(result: GenerationResult): Record<string, unknown> {
    return this.snapshot(statusOf(result), outputItems(this, result), result);
  }
}

function outputText(text: string): Record<string, unknown> {
  return { type: "output_text", text, annotations: [], logprobs: [] };
}

function statusOf(result: GenerationResult): "completed" | "incomplete" {
  return result.finishReason === "length" ? "incomplete" : "completed";
}

function callItem(call: ToolCall, status: "in_progress" | "completed"): Record<string, unknown> {
  return { id: `fc_${call.id.replace(/^call_/, "")}`, type: "function_call", status, call_id: call.id, name: call.name, arguments: status === "completed" ? call.arguments : "" };
}

function outputItems(response: ResponseObject, result: GenerationResult): unknown[] {
  const items: unknown[] = [];
  if (!result.toolCalls || result.text.trim().length > 0) items.push(response.messageItem(result.text, "completed"));
  for (const call of result.toolCalls ?? []) items.push(callItem(call, "completed"));
  return items;
}

/**
 * The Responses event stream: response.created and .in_progress, the message
 * item (output_item.added, content_part.added, output_text.delta…, .done events),
 * then each function call (output_item.added, function_call_arguments.delta/.done,
 * output_item.done), and response.completed (or response.incomplete at the token limit).
 */
function responseEvents(writer: SseWriter, response: ResponseObject, dialect: ApiDialect, keep: (result: GenerationResult) => void): StreamFormat {
  let sequence = 0;
  let started = false;
  let text = "";
  let messageOpen = false;
  const output: unknown[] = [];
  const send = (type: string, fields: Record<string, unknown>): void => writer.event(type, { type, sequence_number: sequence++, ...fields });
  const start = (): void => {
    if (started) return;
    started = true;
    send("response.created", { response: response.snapshot("in_progress") });
    send("response.in_progress", { response: response.snapshot("in_progress") });
  };
  const openMessage = (): void => {
    if (messageOpen) return;
    messageOpen = true;
    send("response.output_item.added", { output_index: 0, item: response.messageItem("", "in_progress") });
    send("response.content_part.added", { item_id: response.messageId, output_index: 0, content_index: 0, part: outputText("") });
  };
  return {
    chunk(chunk) {
      start();
      if (chunk.text.length === 0) return;
      openMessage();
      text += chunk.text;
      send("response.output_text.delta", { item_id: response.messageId, output_index: 0, content_index: 0, delta: chunk.text, logprobs: [] });
    },
    finish(result) {
      start();
      const calls = result.toolCalls ?? [];
      if (calls.length === 0 || text.trim().length > 0) {
        openMessage();
        const ids = { item_id: response.messageId, output_index: 0, content_index: 0 };
        send("response.output_text.done", { ...ids, text, logprobs: [] });
        send("response.content_part.done", { ...ids, part: outputText(text) });
        const item = response.messageItem(text, "completed");
        send("response.output_item.done", { output_index: 0, item });
        output.push(item);
      }
      for (const call of calls) {
        const index = output.length;
        const opened = callItem(call, "in_progress");
        send("response.output_item.added", { output_index: index, item: opened });
        send("response.function_call_arguments.delta", { item_id: opened.id, output_index: index, delta: call.arguments });
        send("response.function_call_arguments.done", { item_id: opened.id, output_index: index, name: call.name, arguments: call.arguments });
        const item = callItem(call, "completed");
        send("response.output_item.done", { output_index: index, item });
        output.push(item);
      }
      keep(result);
      const status = statusOf(result);
      send(status === "completed" ? "response.completed" : "response.incomplete", { response: response.snapshot(status, output, result) });
    },
    error(error) {
      const body = dialect.errorBody(error) as { error: { message: string; code: string; param: string | null } };
      writer.event("error", { type: "error", sequence_number: sequence++, code: body.error.code, message: body.error.message, param: body.error.param, ...body });
    },
  };
}
