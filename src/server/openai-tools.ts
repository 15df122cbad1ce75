/**
 * OpenAI's tool-calling fields, both ways: `tools`, `tool_choice`,
 * `parallel_tool_calls`, assistant `tool_calls` and `tool` messages'
 * `tool_call_id` into the engine's request; calls back into `message.tool_calls`
 * and streamed `delta.tool_calls`. Function tools only; others are refused by name.
 */
import { z } from "zod";
import type { GenerateRequest, ToolCall, ToolChoice, ToolDefinition } from "../engine/types.js";
import { EdgeError } from "../errors.js";

const functionTool = z
  .object({
    type: z.literal("function"),
    function: z
      .object({
        name: z.string(),
        description: z.string().nullish(),
        parameters: z.record(z.string(), z.unknown()).nullish(),
        strict: z.boolean().nullish(),
      })
      .strict(),
  })
  .strict();

/** A tool: a function (anything else is refused with its type named). */
export const openAiToolSchema = z.union([functionTool, z.object({ type: z.string() }).passthrough()]);

export const openAiToolChoiceSchema = z.union(
  [
    z.enum(["none", "auto", "required"]),
    z.object({ type: z.literal("function"), function: z.object({ name: z.string() }).strict() }).strict(),
    z.object({ type: z.string() }).passthrough(),
  ],
  { error: 'expected "none", "auto", "required" or {"type": "function", "function": {"name": ...}}' },
);

export const openAiToolCallSchema = z
  .object({
    id: z.string(),
    type: z.literal("function"),
    // parsed_arguments: what the openai SDK's helpers (runTools, parse) add and send back; ignored.
    function: z.object({ name: z.string(), arguments: z.string(), parsed_arguments: z.unknown().optional() }).strict(),
  })
  .strict();

type ToolFields = Pick<GenerateRequest, "tools" | "toolChoice" | "parallelToolCalls">;

/** The engine's tool fields from a chat body's `tools`, `tool_choice`, `parallel_tool_calls`. */
export function openAiToolRequest(body: {
  tools?: Array<z.output<typeof openAiToolSchema>> | null;
  tool_choice?: z.output<typeof openAiToolChoiceSchema> | null;
  parallel_tool_calls?: boolean | null;
}): ToolFields {
  const fields: ToolFields = {};
  const tools: ToolDefinition[] = (body.tools ?? []).map((tool, i) => {
    if (tool.type !== "function" || !("function" in tool)) {
      throw new EdgeError("unsupported", `tools[${i}].type: only function tools are supported, got "${tool.type}"`, { param: `tools[${i}].type` });
    }
    const fn = (tool as z.output<typeof functionTool>).function;
    return { name: fn.name, ...(fn.description ? { description: fn.description } : {}), ...(fn.parameters ? { parameters: fn.parameters } : {}) };
  });
  if (tools.length > 0) fields.tools = tools;
  const choice = body.tool_choice;
  if (choice != null) fields.toolChoice = toolChoiceOf(choice);
  if (body.parallel_tool_calls != null) fields.parallelToolCalls = body.parallel_tool_calls;
  return fields;
}

function toolChoiceOf(choice: z.output<typeof openAiToolChoiceSchema>): ToolChoice {
  if (typeof choice === "string") return choice;
  if (choice.type === "function" && "function" in choice) return { name: (choice.function as { name: string }).name };
  throw new EdgeError("unsupported", `tool_choice: only "none", "auto", "required" or a named function are supported, got type "${choice.type}"`, {
    param: "tool_choice",
  });
}

/** An assistant message's `tool_calls` as the engine's calls. */
export function engineToolCalls(calls: ReadonlyArray<z.output<typeof openAiToolCallSchema>>): ToolCall[] {
  return calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
}

/** Calls as `message.tool_calls`. */
export function openAiToolCalls(calls: readonly ToolCall[]): unknown[] {
  return calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } }));
}

/** Longest argument fragment in one streamed delta, in characters. */
export const ARGUMENT_FRAGMENT_CHARS = 64;

/**
 * Calls as streamed deltas, as OpenAI sends them: per call, one delta with its
 * index, id, type and name (arguments ""), then the arguments in fragments.
 */
export function toolCallDeltas(calls: readonly ToolCall[]): unknown[] {
  const deltas: unknown[] = [];
  calls.forEach((call, index) => {
    deltas.push({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }] });
    for (let at = 0; at < call.arguments.length; at += ARGUMENT_FRAGMENT_CHARS) {
      deltas.push({ tool_calls: [{ index, function: { arguments: call.arguments.slice(at, at + ARGUMENT_FRAGMENT_CHARS) } }] });
    }
  });
  return deltas;
}
