/**
 * A model's own defaults (an Ollama Modelfile's SYSTEM, PARAMETER and TEMPLATE,
 * kept in its store manifest) applied to an /api/generate or /api/chat request:
 * the request's own options and system prompt win; a TEMPLATE turns the
 * conversation into a raw prompt (ollama-template.ts) instead of the GGUF's
 * chat template.
 */
import type { GenerateRequest } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import type { ModelSettings } from "../scheduler/served-model.js";
import { renderChatTemplate } from "./ollama-template.js";
import type { OllamaOptions } from "./ollama-schemas.js";

/** The request's options over the model's PARAMETER defaults. */
export function optionsWithDefaults(options: OllamaOptions | undefined, settings: ModelSettings | undefined): OllamaOptions | undefined {
  if (!settings?.parameters) return options;
  return { ...(settings.parameters as OllamaOptions), ...options };
}

/** The model's SYSTEM as the first message when the conversation has none. */
export function withDefaultSystem(request: GenerateRequest, settings: ModelSettings | undefined): void {
  if (!settings?.system || !request.messages || request.messages.some((m) => m.role === "system")) return;
  request.messages = [{ role: "system", content: settings.system }, ...request.messages];
}

/** With a TEMPLATE, the messages become one raw prompt rendered by it (tools cannot go through such a template). */
export function applyTemplate(request: GenerateRequest, settings: ModelSettings | undefined, generate?: { prompt: string; system: string | undefined; raw: boolean }): void {
  if (!settings?.template) return;
  if (generate && !generate.raw) {
    request.messages = [...(generate.system ? [{ role: "system" as const, content: generate.system }] : []), { role: "user" as const, content: generate.prompt }];
    delete request.prompt;
  }
  if (!request.messages) return;
  if (request.tools && request.tools.length > 0) {
    throw new EdgeError("unsupported", "tools: this model was created with a TEMPLATE, which has no tool syntax; create it without TEMPLATE to use its own chat template", { param: "tools" });
  }
  request.prompt = renderChatTemplate(settings.template, request.messages, settings.system);
  delete request.messages;
}
