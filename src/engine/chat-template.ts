/**
 * Chat templating, in one place for every backend: a model's messages become
 * prompt text here, in edgelm, never inside a backend. So node-llama-cpp and
 * llama-server see the same prompt for the same messages, and the text
 * `renderChat` shows is exactly what is evaluated.
 *
 * - A GGUF with `tokenizer.chat_template` is rendered with that Jinja template
 *   (the @huggingface/jinja engine, the one node-llama-cpp uses for templates
 *   it has no specialised wrapper for), with `add_generation_prompt` and the
 *   model's `bos_token` / `eos_token` texts — in a worker thread within time,
 *   memory and output limits (bounded-template.ts), tried once when the model
 *   loads: a template past a limit keeps the model from loading.
 * - A GGUF without one (stories260K, the demo model, synthetic models), or
 *   whose template cannot be rendered, gets the plain fallback template.
 *
 * - Tools (tool-call-syntax.ts): a template with a tool syntax we know gets
 *   `tools` and messages with `tool_calls` / `tool_call_id` in Hugging Face's
 *   convention; any other template, and the fallback, get edgelm's generic tool
 *   prompt as a system message and the calls written out in its markup.
 *
 * The text is then tokenized with special-token parsing (so `<|im_start|>`
 * written by the template is one token) and a BOS token when the model asks
 * for one and the text does not already start with it — as llama.cpp's server
 * does for its chat endpoint.
 */
import { EdgeError, isEdgeError } from "../errors.js";
import type { GgufMetadata } from "../gguf/gguf-values.js";
import { metaArray, metaNumber, metaString } from "../gguf/gguf-values.js";
import { logger } from "../log.js";
import { BoundedTemplate, DEFAULT_TEMPLATE_LIMITS, describeTemplateLimit, type RenderOutcome, type TemplateLimit, type TemplateLimits } from "./bounded-template.js";
import { FALLBACK_CHAT_STOPS, renderFallbackChat } from "./fallback-chat-template.js";
import { genericToolPrompt, templateMessages, templateTools, toolCallSyntaxOf, type ToolCallSyntax } from "./tool-call-syntax.js";
import type { ChatMessage, ToolChoice, ToolDefinition } from "./types.js";

export interface ChatPrompt {
  text: string;
  /** Extra stop strings the template needs (the fallback's next-block marker); end-of-generation tokens stop anyway. */
  stops: string[];
  /** The syntax in which tools and calls were written (and model calls are to be read). */
  toolSyntax: ToolCallSyntax;
}

/** The tools a chat offers; `none` (or no tools) leaves them out of the prompt. */
export interface ChatTools {
  tools?: readonly ToolDefinition[];
  toolChoice?: ToolChoice;
  /** Extra template variables (e.g. enable_thinking); the fallback template has none to set. */
  chatTemplateKwargs?: Readonly<Record<string, unknown>>;
}

/**
 * The chats a template is tried on when a model loads: a long one, and one
 * user message for templates that refuse system or assistant turns. A
 * template that goes past a render limit on them is refused at load.
 */
const PROBE_CHATS: ReadonlyArray<readonly ChatMessage[]> = [
  [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Hello, who are you?" },
    { role: "assistant", content: "I am an assistant." },
    { role: "user", content: "Tell me a short story." },
  ],
  [{ role: "user", content: "Hello" }],
];

export class ChatTemplate {
  private constructor(
    private template: BoundedTemplate | undefined,
    private readonly bosText: string,
    private readonly eosText: string,
    private toolSyntax: ToolCallSyntax,
    private readonly name: string,
  ) {}

  /**
   * The template a GGUF carries (or the fallback), read from its metadata and
   * tried once on short chats (PROBE_CHATS) within `limits`. Rejects with
   * `unsupported_model` naming the limit when the template goes past one: such
   * a model is not loaded. A template that cannot be parsed gets the fallback.
   */
  static async open(metadata: GgufMetadata, name = "model", limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS): Promise<ChatTemplate> {
    const source = metaString(metadata, "tokenizer.chat_template");
    const tokens = metaArray(metadata, "tokenizer.ggml.tokens");
    const tokenText = (key: string): string => {
      const id = metaNumber(metadata, key);
      const text = id !== undefined ? tokens?.[id] : undefined;
      return typeof text === "string" ? text : "";
    };
    if (source && Buffer.byteLength(source) > limits.maxSourceBytes) {
      throw new EdgeError("unsupported_model", `${name}: its chat template ${describeTemplateLimit("max_source_bytes", limits)}: ${Buffer.byteLength(source)} bytes; the model is not loaded`, {
        details: { limit: "max_source_bytes" },
      });
    }
    const template = source ? new BoundedTemplate(source, limits) : undefined;
    const syntax = template ? toolCallSyntaxOf(source) : "generic";
    const chat = new ChatTemplate(template, tokenText("tokenizer.ggml.bos_token_id"), tokenText("tokenizer.ggml.eos_token_id"), syntax, name);
    await chat.probe();
    return chat;
  }

  /** True when the model's own template is used (not the fallback). */
  get isModelTemplate(): boolean {
    return this.template !== undefined;
  }

  /** The BOS token's text (empty when the model has none). */
  get bos(): string {
    return this.bosText;
  }

  /**
   * The prompt for `messages`. Rejects with `unsupported_model` when the model's
   * template goes past a render limit for them; a template that raises an
   * error for them gives the plain fallback instead.
   */
  async render(messages: readonly ChatMessage[], chatTools: ChatTools = {}): Promise<ChatPrompt> {
    const choice = chatTools.toolChoice ?? "auto";
    const offered = chatTools.tools && chatTools.tools.length > 0 && choice !== "none" ? chatTools.tools : undefined;
    if (this.template) {
      const syntax = this.toolSyntax;
      const native = syntax !== "generic";
      let rendered = templateMessages(messages, syntax, true);
      if (!native && offered) rendered = withSystemText(rendered, genericToolPrompt(offered, choice as Exclude<ToolChoice, "none">));
      let outcome = await this.renderRequest(this.context(rendered, native ? offered : undefined, chatTools.chatTemplateKwargs));
      if (!outcome.ok && native && offered && /UndefinedValue/.test(outcome.message)) {
        // Python's Jinja, which published templates are written for, renders a missing value as "" even under a
        // filter (Hermes 3's `param_fields.description|trim`); ours raises. Blank descriptions stand in for missing ones.
        outcome = await this.renderRequest(this.context(rendered, offered, chatTools.chatTemplateKwargs, true));
      }
      if (outcome.ok) return { text: outcome.text, stops: [], toolSyntax: syntax };
      logger.warn(`the chat template failed to render (${outcome.message}); using the plain fallback template`);
    }
    let plain = templateMessages(messages, "generic", false);
    if (offered) plain = withSystemText(plain, genericToolPrompt(offered, choice as Exclude<ToolChoice, "none">));
    return { text: renderFallbackChat(plain as unknown as ChatMessage[]), stops: [...FALLBACK_CHAT_STOPS], toolSyntax: "generic" };
  }

  /** Stops the template's rendering thread. */
  async dispose(): Promise<void> {
    await this.template?.dispose();
  }

  /** Renders a request's context; a render limit is `unsupported_model` naming this model and the request. */
  private async renderRequest(context: Record<string, unknown>): Promise<RenderOutcome> {
    try {
      return await this.template!.render(context);
    } catch (error) {
      if (isEdgeError(error) && error.code === "unsupported_model") {
        throw new EdgeError("unsupported_model", `${this.name}: ${error.message} for this request's messages; the request was not run`, {
          ...(error.details ? { details: error.details } : {}),
        });
      }
      throw error;
    }
  }

  private context(
    messages: Array<Record<string, unknown>>,
    tools: readonly ToolDefinition[] | undefined,
    kwargs?: Readonly<Record<string, unknown>>,
    blankDescriptions = false,
  ): Record<string, unknown> {
    return {
      ...templateKwargs(kwargs),
      messages,
      ...(tools ? { tools: templateTools(tools, blankDescriptions) } : {}),
      add_generation_prompt: true,
      bos_token: this.bosText,
      eos_token: this.eosText,
    };
  }

  /** Tries the template on PROBE_CHATS (see open). */
  private async probe(): Promise<void> {
    const template = this.template;
    if (!template) return;
    for (const chat of PROBE_CHATS) {
      let outcome: RenderOutcome;
      try {
        outcome = await template.render(this.context(templateMessages(chat, this.toolSyntax, true), undefined));
      } catch (error) {
        await this.dispose();
        if (isEdgeError(error) && error.code === "unsupported_model") {
          throw new EdgeError("unsupported_model", `${this.name}: its chat template ${describeTemplateLimit(error.details!.limit as TemplateLimit, template.limits, error.details!.phase === "parse" ? "parse" : "render")} on a probe render of a short chat; the model is not loaded`, {
            details: { ...error.details },
          });
        }
        throw error;
      }
      if (outcome.ok) return;
      if (outcome.parseError) {
        logger.warn(`${this.name}: its chat template cannot be parsed (${outcome.message}); using the plain fallback template`);
        await this.dispose();
        this.template = undefined;
        this.toolSyntax = "generic";
        return;
      }
      // It raised an error for this chat (e.g. it refuses system messages): try the next one.
    }
  }
}

/** Variables the template gets from edgelm alone. */
const RESERVED_TEMPLATE_VARIABLES = new Set(["messages", "tools", "add_generation_prompt", "bos_token", "eos_token"]);

function templateKwargs(kwargs: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  if (!kwargs) return {};
  return Object.fromEntries(Object.entries(kwargs).filter(([key]) => !RESERVED_TEMPLATE_VARIABLES.has(key)));
}

/** Messages with `text` added to the first system message (or a new one in front). */
function withSystemText(messages: Array<Record<string, unknown>>, text: string): Array<Record<string, unknown>> {
  const first = messages[0];
  if (first?.role === "system") return [{ ...first, content: `${String(first.content)}\n\n${text}` }, ...messages.slice(1)];
  return [{ role: "system", content: text }, ...messages];
}

/**
 * Drops a BOS token the tokenizer added in front of a text that already began
 * with one (a template writing `{{ bos_token }}`), so a prompt never starts with two.
 */
export function withSingleBos(tokens: number[], bos: number | undefined): number[] {
  if (bos !== undefined && tokens.length >= 2 && tokens[0] === bos && tokens[1] === bos) return tokens.slice(1);
  return tokens;
}
