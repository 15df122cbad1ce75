/**
 * Ollama's tool-calling fields: `tools` (function tools) and assistant
 * `message.tool_calls` with arguments as an object, both ways; `tool` messages
 * carry `tool_name`. Ollama has no tool_choice: the model decides (`auto`).
 */
import { z } from "zod";
import { newToolCallId } from "../engine/tool-calling.js";
import type { ChatMessage, ToolCall, ToolDefinition } from "../engine/types.js";
import { EdgeError } from "../errors.js";

export const ollamaToolSchema = z
  .object({
    type: z.string(),
    function: z
      .object({
        name: z.string(),
        description: z.string().optional(),
        parameters: z.record(z.string(), z.unknown()).optional(),
      })
      .passthrough(),
  })
  .passthrough();

export const ollamaToolCallSchema = z
  .object({
    id: z.string().optional(),
    function: z
      .object({
        index: z.number().int().optional(),
        name: z.string(),
        arguments: z.record(z.string(), z.unknown()),
      })
      .strict(),
  })
  .strict();

/** The engine's tools from Ollama's `tools`. */
export function ollamaTools(tools: ReadonlyArray<z.output<typeof ollamaToolSchema>>): ToolDefinition[] {
  return tools.map((tool, i) => {
    if (tool.type !== "function") {
      throw new EdgeError("unsupported", `tools[${i}].type: only function tools are supported, got "${tool.type}"`, { param: `tools[${i}].type` });
    }
    const fn = tool.function;
    return { name: fn.name, ...(fn.description ? { description: fn.description } : {}), ...(fn.parameters ? { parameters: fn.parameters } : {}) };
  });
}

/** One Ollama message as the engine's, its calls given ids where it has none (a tool message then answers by name). */
export function ollamaChatMessage(message: {
  role: ChatMessage["role"];
  content: string;
  tool_calls?: Array<z.output<typeof ollamaToolCallSchema>> | undefined;
  tool_name?: string | undefined;
}): ChatMessage {
  const mapped: ChatMessage = { role: message.role, content: message.content };
  if (message.tool_calls && message.tool_calls.length > 0) {
    mapped.toolCalls = message.tool_calls.map((c) => ({ id: c.id ?? newToolCallId(), name: c.function.name, arguments: JSON.stringify(c.function.arguments) }));
  }
  if (message.role === "tool" && message.tool_name !== undefined) mapped.name = message.tool_name;
  return mapped;
}

/** Calls as Ollama's `message.tool_calls` (arguments as objects). */
export function ollamaToolCalls(calls: readonly ToolCall[]): unknown[] {
  return calls.map((c, index) => ({ id: c.id, function: { index, name: c.name, arguments: JSON.parse(c.arguments) as unknown } }));
}
