/**
 * Chat templating, in one place for every backend: a model's messages become
 * prompt text here, in edgelm, never inside a backend. So node-llama-cpp and
 * llama-server see the same prompt for the same messages, and the text
 * `renderChat` shows is exactly what is evaluated.
 *
 * - A GGUF with `tokenizer.chat_template` is rendered with that Jinja template
 *   (the @huggingface/jinja engine, the one node-llama-cpp uses for templates
 *   it has no specialised wrapper for), with `add_generation_prompt` and the
 *   model's `bos_token` / `eos_token` texts.
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
import { Template } from "@huggingface/jinja";
import type { GgufMetadata } from "../gguf/gguf-values.js";
import { metaArray, metaNumber, metaString } from "../gguf/gguf-values.js";
import { logger } from "../log.js";
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

export class ChatTemplate {
  private constructor(
    private readonly template: Template | undefined,
    private readonly bosText: string,
    private readonly eosText: string,
    private readonly toolSyntax: ToolCallSyntax,
  ) {}

  /** The template a GGUF carries (or the fallback), read from its metadata. */
  static fromMetadata(metadata: GgufMetadata, name = "model"): ChatTemplate {
    const source = metaString(metadata, "tokenizer.chat_template");
    const tokens = metaArray(metadata, "tokenizer.ggml.tokens");
    const tokenText = (key: string): string => {
      const id = metaNumber(metadata, key);
      const text = id !== undefined ? tokens?.[id] : undefined;
      return typeof text === "string" ? text : "";
    };
    let template: Template | undefined;
    if (source) {
      try {
        template = new Template(source);
      } catch (error) {
        logger.warn(`${name}: its chat template cannot be parsed (${(error as Error).message}); using the plain fallback template`);
      }
    }
    const syntax = template ? toolCallSyntaxOf(source) : "generic";
    return new ChatTemplate(template, tokenText("tokenizer.ggml.bos_token_id"), tokenText("tokenizer.ggml.eos_token_id"), syntax);
  }

  /** True when the model's own template is used (not the fallback). */
  get isModelTemplate(): boolean {
    return this.template !== undefined;
  }

  /** The BOS token's text (empty when the model has none). */
  get bos(): string {
    return this.bosText;
  }

  render(messages: readonly ChatMessage[], chatTools: ChatTools = {}): ChatPrompt {
    const choice = chatTools.toolChoice ?? "auto";
    const offered = chatTools.tools && chatTools.tools.length > 0 && choice !== "none" ? chatTools.tools : undefined;
    if (this.template) {
      const syntax = this.toolSyntax;
      try {
        const native = syntax !== "generic";
        let rendered = templateMessages(messages, syntax, true);
        if (!native && offered) rendered = withSystemText(rendered, genericToolPrompt(offered, choice as Exclude<ToolChoice, "none">));
        const text = this.template.render({
          ...templateKwargs(chatTools.chatTemplateKwargs),
          messages: rendered,
          ...(native && offered ? { tools: templateTools(offered) } : {}),
          add_generation_prompt: true,
          bos_token: this.bosText,
          eos_token: this.eosText,
        });
        return { text, stops: [], toolSyntax: syntax };
      } catch (error) {
        logger.warn(`the chat template failed to render (${(error as Error).message}); using the plain fallback template`);
      }
    }
    let plain = templateMessages(messages, "generic", false);
    if (offered) plain = withSystemText(plain, genericToolPrompt(offered, choice as Exclude<ToolChoice, "none">));
    return { text: renderFallbackChat(plain as unknown as ChatMessage[]), stops: [...FALLBACK_CHAT_STOPS], toolSyntax: "generic" };
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
