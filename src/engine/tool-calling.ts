/**
 * Tool calling, the same for every backend: a backend renders the chat (the
 * template sees the tools, see chat-template.ts), then asks `toolCalling` for
 * the output constraint (a grammar of the family's call syntax when the request
 * says `required` or names a function) and wraps its token stream, so the
 * model's call markup becomes `result.toolCalls` instead of text.
 *
 * While streaming, text is passed on until a call could begin; from there it is
 * held back. At the end the held text is parsed: well-formed calls end the
 * generation with finishReason `tool_calls` (the markup is not in the text);
 * anything else is released as text, so the streamed text is always the result's text.
 */
import { randomBytes } from "node:crypto";
import { EdgeError } from "../errors.js";
import { callStartMarkers, parseCompleteToolCalls, parseToolCalls, toolCallGrammar, type ToolCallSyntax } from "./tool-call-syntax.js";
import type { GeneratedChunk, GenerateRequest, GenerationResult, ResponseFormat, TokenStream, ToolCall } from "./types.js";

/** Most functions one request may offer (OpenAI's limit). */
export const MAX_TOOLS = 128;

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export interface ToolCalling {
  /** What constrains the output: the call grammar, or the request's own response format. */
  responseFormat: ResponseFormat | undefined;
  /** The stream with calls parsed out (the same stream when nothing is to be parsed). */
  wrap(stream: TokenStream): TokenStream;
}

/** A new call id (`call_` and 24 URL-safe characters). */
export function newToolCallId(): string {
  return `call_${randomBytes(18).toString("base64url")}`;
}

/**
 * Checks a request's tools and plans their handling for a chat rendered in
 * `syntax` (see ChatPrompt.toolSyntax). Throws EdgeError `invalid_request` for
 * bad tools (names, duplicates, an unknown named function, tools without
 * messages, a JSON response format together with a forced call).
 */
export function toolCalling(request: GenerateRequest, syntax: ToolCallSyntax | undefined): ToolCalling {
  const tools = request.tools ?? [];
  const choice = request.toolChoice ?? "auto";
  const passThrough: ToolCalling = { responseFormat: request.responseFormat, wrap: (stream) => stream };
  if (tools.length === 0) {
    if (choice === "required" || typeof choice === "object") throw invalid("tool_choice", "needs tools to choose from");
    return passThrough;
  }
  if (!request.messages || request.messages.length === 0 || syntax === undefined) throw invalid("tools", "tools need chat messages");
  if (tools.length > MAX_TOOLS) throw invalid("tools", `at most ${MAX_TOOLS} tools, got ${tools.length}`);
  const seen = new Set<string>();
  tools.forEach((tool, i) => {
    if (!TOOL_NAME.test(tool.name)) throw invalid(`tools[${i}].function.name`, `"${tool.name}" must be 1–64 letters, digits, underscores or dashes`);
    if (seen.has(tool.name)) throw invalid(`tools[${i}].function.name`, `"${tool.name}" is defined twice`);
    seen.add(tool.name);
    const type = tool.parameters?.type;
    if (tool.parameters !== undefined && type !== undefined && type !== "object") {
      throw invalid(`tools[${i}].function.parameters`, `must be an object schema (type "object"), got type ${JSON.stringify(type)}`);
    }
  });
  if (choice === "none") return passThrough;
  const parallel = request.parallelToolCalls ?? true;
  let responseFormat = request.responseFormat;
  if (choice === "required" || typeof choice === "object") {
    if (responseFormat && responseFormat.type !== "text") throw invalid("response_format", "cannot be combined with a tool_choice that forces a call");
    const chosen = typeof choice === "object" ? tools.filter((t) => t.name === choice.name) : tools;
    if (chosen.length === 0) throw invalid("tool_choice", `names "${(choice as { name: string }).name}", which is not among the tools`);
    responseFormat = { type: "grammar", gbnf: toolCallGrammar(chosen, syntax, parallel) };
  }
  return { responseFormat, wrap: (stream) => new ToolCallStream(stream, syntax, parallel) };
}

function invalid(param: string, message: string): EdgeError {
  return new EdgeError("invalid_request", `${param}: ${message}`, { param });
}

/** Passes text on until a call may begin, holds the rest, and parses it when the generation ends. */
class ToolCallStream implements TokenStream {
  readonly result: Promise<GenerationResult>;
  private resolveResult!: (result: GenerationResult) => void;
  private rejectResult!: (error: unknown) => void;
  private readonly markers: { anywhere: string[]; atStart: string[] };
  private emitted = "";
  /** Text that may be the start of a marker (not yet passed on). */
  private pending = "";
  /** Text from where a call began (held back). */
  private held: string | undefined;

  constructor(
    private readonly inner: TokenStream,
    private readonly syntax: ToolCallSyntax,
    private readonly parallel: boolean,
  ) {
    this.markers = callStartMarkers(syntax);
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    this.result.catch(() => {});
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GeneratedChunk> {
    let settled = false;
    try {
      for await (const chunk of this.inner) {
        const passed = this.take(chunk.text);
        if (passed.length > 0 || chunk.tokens.length > 0 || chunk.logprobs) yield { ...chunk, text: passed };
      }
      const inner = await this.inner.result;
      const { tail, result } = this.finish(inner);
      if (tail.length > 0) yield { text: tail, tokens: [] };
      settled = true;
      this.resolveResult(result);
    } catch (error) {
      settled = true;
      this.rejectResult(error);
      throw error;
    } finally {
      // A consumer that stopped early (abort) still learns how the generation ended.
      if (!settled) this.inner.result.then((r) => this.resolveResult({ ...r, text: this.emitted }), this.rejectResult);
    }
  }

  /** The part of `text` that can be passed on now. */
  private take(text: string): string {
    if (this.held !== undefined) {
      this.held += text;
      return "";
    }
    const combined = this.pending + text;
    this.pending = "";
    const start = this.callStart(combined);
    if (start !== -1) {
      this.held = combined.slice(start);
      return this.pass(combined.slice(0, start));
    }
    // Hold back a tail that could still become a marker.
    const keep = this.markerPrefixLength(combined);
    this.pending = combined.slice(combined.length - keep);
    return this.pass(combined.slice(0, combined.length - keep));
  }

  private pass(text: string): string {
    this.emitted += text;
    return text;
  }

  private callStart(text: string): number {
    let best = -1;
    for (const marker of this.markers.anywhere) {
      const at = text.indexOf(marker);
      if (at !== -1 && (best === -1 || at < best)) best = at;
    }
    if (this.emitted.trim().length === 0) {
      const lead = text.length - text.trimStart().length;
      for (const marker of this.markers.atStart) if (text.startsWith(marker, lead)) best = best === -1 ? lead : Math.min(best, lead);
    }
    return best;
  }

  private markerPrefixLength(text: string): number {
    const candidates = [...this.markers.anywhere];
    if (this.emitted.trim().length === 0 && text.trim().length === 0) return text.length;
    if (this.emitted.trim().length === 0 && text.trimStart().length > 0) {
      // At the very start: a bare-JSON family's first character could be its first part.
      const trimmed = text.trimStart();
      if (this.markers.atStart.some((m) => m.startsWith(trimmed))) return text.length;
    }
    let longest = 0;
    for (const marker of candidates) {
      for (let n = Math.min(marker.length - 1, text.length); n > longest; n--) {
        if (text.endsWith(marker.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }

  private finish(inner: GenerationResult): { tail: string; result: GenerationResult } {
    const held = this.held;
    const pending = this.pending;
    this.pending = "";
    if (held !== undefined && inner.finishReason !== "abort") {
      // Cut short in the middle of a later call: the calls written in full, never the unfinished one's markup.
      const whole = parseToolCalls(held, this.syntax);
      const parsed = whole ?? (inner.finishReason === "length" ? parseCompleteToolCalls(held, this.syntax) : undefined);
      if (parsed) {
        const calls: ToolCall[] = (this.parallel ? parsed : parsed.slice(0, 1)).map((c) => ({ id: newToolCallId(), ...c }));
        // A turn cut short keeps "length", as OpenAI's does, so the client knows more calls may have been meant.
        return { tail: "", result: { ...inner, text: this.emitted, finishReason: whole ? "tool_calls" : "length", toolCalls: calls } };
      }
    }
    // Call markup cut short with nothing complete in it is no answer either: it is left out, the reason says "length".
    const cutCall = held !== undefined && inner.finishReason === "length";
    const tail = pending + (cutCall ? "" : (held ?? ""));
    this.emitted += tail;
    return { tail, result: { ...inner, text: this.emitted } };
  }
}
