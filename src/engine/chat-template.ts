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
import type { ChatMessage } from "./types.js";

export interface ChatPrompt {
  text: string;
  /** Extra stop strings the template needs (the fallback's next-block marker); end-of-generation tokens stop anyway. */
  stops: string[];
}

export class ChatTemplate {
  private constructor(
    private readonly template: Template | undefined,
    private readonly bosText: string,
    private readonly eosText: string,
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
    return new ChatTemplate(template, tokenText("tokenizer.ggml.bos_token_id"), tokenText("tokenizer.ggml.eos_token_id"));
  }

  /** True when the model's own template is used (not the fallback). */
  get isModelTemplate(): boolean {
    return this.template !== undefined;
  }

  /** The BOS token's text (empty when the model has none). */
  get bos(): string {
    return this.bosText;
  }

  render(messages: readonly ChatMessage[]): ChatPrompt {
    if (this.template) {
      try {
        const text = this.template.render({
          messages: messages.map((m) => ({ role: m.role, content: m.content })),
          add_generation_prompt: true,
          bos_token: this.bosText,
          eos_token: this.eosText,
        });
        return { text, stops: [] };
      } catch (error) {
        logger.warn(`the chat template failed to render (${(error as Error).message}); using the plain fallback template`);
      }
    }
    return { text: renderFallbackChat(messages), stops: [...FALLBACK_CHAT_STOPS] };
  }
}

/**
 * Drops a BOS token the tokenizer added in front of a text that already began
 * with one (a template writing `{{ bos_token }}`), so a prompt never starts with two.
 */
export function withSingleBos(tokens: number[], bos: number | undefined): number[] {
  if (bos !== undefined && tokens.length >= 2 && tokens[0] === bos && tokens[1] === bos) return tokens.slice(1);
  return tokens;
}
