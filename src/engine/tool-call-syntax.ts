/**
 * How a model family writes function calls, in one place per family: how the
 * chat template is told about tools and past calls, the grammar that makes the
 * model call one (`tool_choice` `required` or named), and the parser that reads
 * calls back out of its text.
 *
 * | syntax | found in a template by | a call as the model writes it |
 * |---|---|---|
 * | `hermes` | `<tool_call>` (Qwen 2.5/3, Hermes 2/3, SmolLM3) | `<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>`, one block per call |
 * | `llama3` | `<\|python_tag\|>`, or `ipython` with `parameters` (Llama 3.1–3.3) | `{"name": "f", "parameters": {...}}` (optionally after `<\|python_tag\|>`), one call per turn |
 * | `mistral` | `[TOOL_CALLS]` | `[TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]` |
 * | `mistral-args` | `[TOOL_CALLS]` and `[ARGS]` (newer Mistral templates) | `[TOOL_CALLS]f[ARGS]{...}`, repeated per call |
 * | `generic` | anything else, and models without a template | `<tool_call>{"name": "f", "arguments": {...}}</tool_call>`, one line per call; edgelm describes the tools in a system message (see GENERIC_TOOL_PROMPT) |
 *
 * The parsers also accept what a model writes when its control tokens are not
 * printed (llama.cpp leaves special tokens out of generated text): a Llama 3 call
 * without `<|python_tag|>`, a Mistral list without `[TOOL_CALLS]`.
 */
import { createHash } from "node:crypto";
import { GbnfRules, gbnfLiteral } from "./json-schema-grammar.js";
import type { ChatMessage, ToolCall, ToolDefinition } from "./types.js";

export type ToolCallSyntax = "hermes" | "llama3" | "mistral" | "mistral-args" | "generic";

/** Most calls one turn may hold when a grammar makes the model call (`required` or named, parallel calls allowed). */
export const MAX_CALLS_PER_TURN = 8;

/** The syntax a chat template's source uses (`generic` when it has none we know, or there is no template). */
export function toolCallSyntaxOf(templateSource: string | undefined): ToolCallSyntax {
  if (!templateSource) return "generic";
  if (templateSource.includes("[TOOL_CALLS]")) return templateSource.includes("[ARGS]") ? "mistral-args" : "mistral";
  if (templateSource.includes("<tool_call>")) return "hermes";
  if (templateSource.includes("<|python_tag|>") || (templateSource.includes("ipython") && templateSource.includes("parameters"))) return "llama3";
  return "generic";
}

/**
 * The tools as chat templates expect them (Hugging Face's convention: OpenAI's function objects).
 * `blankDescriptions` gives every function and top-level parameter without a description an empty one.
 */
export function templateTools(tools: readonly ToolDefinition[], blankDescriptions = false): unknown[] {
  return tools.map((t) => {
    let parameters = t.parameters ?? { type: "object", properties: {} };
    const properties = parameters.properties;
    if (blankDescriptions && properties !== null && typeof properties === "object" && !Array.isArray(properties)) {
      const described = Object.fromEntries(
        Object.entries(properties as Record<string, unknown>).map(([name, schema]) =>
          schema !== null && typeof schema === "object" && !Array.isArray(schema) && !("description" in schema) ? [name, { ...schema, description: "" }] : [name, schema],
        ),
      );
      parameters = { ...parameters, properties: described };
    }
    const description = t.description ?? (blankDescriptions ? "" : undefined);
    return { type: "function", function: { name: t.name, ...(description !== undefined ? { description } : {}), parameters } };
  });
}

/**
 * The system text telling a model without tool syntax in its template which
 * functions exist and how to call them; `choice` narrows it for `required` and a named function.
 */
export function genericToolPrompt(tools: readonly ToolDefinition[], choice: "auto" | "required" | { name: string }): string {
  const list = tools.map((t) => JSON.stringify({ name: t.name, description: t.description ?? "", parameters: t.parameters ?? { type: "object" } })).join("\n");
  const must =
    choice === "required"
      ? "You must call at least one function."
      : typeof choice === "object"
        ? `You must call the function ${choice.name}.`
        : "Call a function only when it helps; otherwise answer in plain text.";
  return (
    `You can call these functions (each with a JSON schema of its arguments):\n${list}\n` +
    `To call functions, answer with nothing but one line per call:\n<tool_call>{"name": "<function name>", "arguments": <the arguments as a JSON object>}</tool_call>\n` +
    `${must} A function's result comes back in a message starting with <tool_response>.`
  );
}

function parsedArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Mistral's templates insist on call ids of 9 letters and digits: others are mapped to one, the same for a call and its answer. */
function mistralId(id: string): string {
  if (/^[a-zA-Z0-9]{9}$/.test(id)) return id;
  return createHash("sha256").update(id).digest("base64").replace(/[^a-zA-Z0-9]/g, "").slice(0, 9).padEnd(9, "0");
}

function genericCallText(call: ToolCall): string {
  return `<tool_call>${JSON.stringify({ name: call.name, arguments: parsedArguments(call.arguments) })}</tool_call>`;
}

/**
 * Messages as a Jinja chat template takes them (`tool_calls` with `function.arguments`
 * as objects, `tool_call_id`, `name`), or — for the generic syntax — as plain
 * messages whose calls and results are written out in its markup. `forModelTemplate`
 * is false for the fallback template, which has a Tool block of its own.
 */
export function templateMessages(
  messages: readonly ChatMessage[],
  syntax: ToolCallSyntax,
  forModelTemplate: boolean,
): Array<Record<string, unknown>> {
  const mapId = syntax === "mistral" || syntax === "mistral-args" ? mistralId : (id: string) => id;
  return messages.map((m) => {
    if (syntax === "generic") {
      if (m.toolCalls && m.toolCalls.length > 0) {
        const calls = m.toolCalls.map(genericCallText).join("\n");
        return { role: m.role, content: m.content ? `${m.content}\n${calls}` : calls };
      }
      if (m.role === "tool") {
        const content = `<tool_response>${m.name ? ` ${m.name}` : ""}\n${m.content}\n</tool_response>`;
        return { role: forModelTemplate ? "user" : "tool", content };
      }
      return { role: m.role, content: m.content };
    }
    const out: Record<string, unknown> = { role: m.role, content: m.content };
    if (m.toolCalls && m.toolCalls.length > 0) {
      out.tool_calls = m.toolCalls.map((c) => ({ id: mapId(c.id), type: "function", function: { name: c.name, arguments: parsedArguments(c.arguments) } }));
    }
    if (m.toolCallId !== undefined) out.tool_call_id = mapId(m.toolCallId);
    if (m.name !== undefined) out.name = m.name;
    return out;
  });
}

/**
 * A grammar that makes the model call `tools` (one of them, or the only one given)
 * in `syntax`: 1 call, or up to MAX_CALLS_PER_TURN when `parallel`. Each call's
 * arguments match its function's schema.
 */
export function toolCallGrammar(tools: readonly ToolDefinition[], syntax: ToolCallSyntax, parallel: boolean): string {
  const rules = new GbnfRules();
  const ws = rules.primitive("ws");
  // One builder for the whole grammar; each schema resolves its own $refs.
  const argRule = (tool: ToolDefinition, i: number): string => {
    const schema = tool.parameters ?? { type: "object" };
    rules.useRoot(schema);
    return rules.schemaRule(schema, `args-${i}-${tool.name}`);
  };
  const bodies = tools.map((tool, i) => {
    const args = argRule(tool, i);
    const name = gbnfLiteral(JSON.stringify(tool.name));
    if (syntax === "mistral-args") return `${gbnfLiteral(tool.name)} "[ARGS]" ${args}`;
    const key = syntax === "llama3" ? "parameters" : "arguments";
    return `"{" ${ws} "\\"name\\":" ${ws} ${name} "," ${ws} ${gbnfLiteral(JSON.stringify(key))} ":" ${ws} ${args} ${ws} "}"`;
  });
  const call = rules.add("call", bodies.join(" | "));
  const more = parallel ? MAX_CALLS_PER_TURN - 1 : 0;
  switch (syntax) {
    case "hermes":
      return rules.grammar(`"<tool_call>\\n" ${call} "\\n</tool_call>" ("\\n<tool_call>\\n" ${call} "\\n</tool_call>"){0,${more}}`);
    case "generic":
      return rules.grammar(`"<tool_call>" ${call} "</tool_call>" ("\\n<tool_call>" ${call} "</tool_call>"){0,${more}}`);
    case "llama3":
      return rules.grammar(call);
    case "mistral":
      return rules.grammar(`"[TOOL_CALLS][" ${call} ("," ${ws} ${call}){0,${more}} "]"`);
    case "mistral-args":
      return rules.grammar(`"[TOOL_CALLS]" ${call} ("[TOOL_CALLS]" ${call}){0,${more}}`);
  }
}

/** Where a call can begin in text: markers anywhere, and (for families whose calls are bare JSON) the text's first character. */
export function callStartMarkers(syntax: ToolCallSyntax): { anywhere: string[]; atStart: string[] } {
  switch (syntax) {
    case "hermes":
    case "generic":
      return { anywhere: ["<tool_call>"], atStart: [] };
    case "llama3":
      return { anywhere: ["<|python_tag|>"], atStart: ["{"] };
    case "mistral":
    case "mistral-args":
      return { anywhere: ["[TOOL_CALLS]"], atStart: ["[{"] };
  }
}

/** A call as parsed: the name and the arguments as JSON text of an object. */
export interface ParsedCall {
  name: string;
  arguments: string;
}

function callOf(value: unknown, argumentsKey: "arguments" | "parameters"): ParsedCall | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const name = record.name;
  let args: unknown = record[argumentsKey] ?? record.arguments ?? record.parameters ?? {};
  if (typeof name !== "string" || name.length === 0) return undefined;
  if (typeof args === "string") args = parsedArguments(args);
  if (!args || typeof args !== "object" || Array.isArray(args)) return undefined;
  return { name, arguments: JSON.stringify(args) };
}

function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Reads the calls in `text` (the part of a generation from where a call began).
 * Undefined when it is not well-formed calls in `syntax`: the text is then an answer, not a call.
 */
export function parseToolCalls(text: string, syntax: ToolCallSyntax): ParsedCall[] | undefined {
  const calls: ParsedCall[] = [];
  switch (syntax) {
    case "hermes":
    case "generic": {
      const blocks = text.split("<tool_call>").slice(1);
      for (const block of blocks) {
        const end = block.indexOf("</tool_call>");
        // A last block may lack its end tag when generation stopped at end-of-text first.
        if (end === -1 && block !== blocks[blocks.length - 1]) return undefined;
        const call = callOf(jsonOf((end === -1 ? block : block.slice(0, end)).trim()), "arguments");
        if (!call) return undefined;
        calls.push(call);
      }
      break;
    }
    case "llama3": {
      const body = text.replace(/^\s*<\|python_tag\|>/, "").trim();
      const whole = jsonOf(body);
      const parts = whole !== undefined ? (Array.isArray(whole) ? whole : [whole]) : body.split(/;\s*/).map(jsonOf);
      for (const part of parts) {
        const call = callOf(part, "parameters");
        if (!call) return undefined;
        calls.push(call);
      }
      break;
    }
    case "mistral": {
      const list = jsonOf(text.replace(/^\s*\[TOOL_CALLS\]/, "").trim());
      if (!Array.isArray(list)) return undefined;
      for (const item of list) {
        const call = callOf(item, "arguments");
        if (!call) return undefined;
        calls.push(call);
      }
      break;
    }
    case "mistral-args": {
      for (const part of text.split("[TOOL_CALLS]").slice(1)) {
        const at = part.indexOf("[ARGS]");
        if (at === -1) return undefined;
        const call = callOf({ name: part.slice(0, at).trim(), arguments: jsonOf(part.slice(at + 6).trim()) }, "arguments");
        if (!call) return undefined;
        calls.push(call);
      }
      break;
    }
  }
  return calls.length > 0 ? calls : undefined;
}

/**
 * The calls written in full in `text`, a generation cut short (max_tokens or the context ran out) in the middle of
 * a later call: the complete ones, without the unfinished last; undefined when none is complete.
 */
export function parseCompleteToolCalls(text: string, syntax: ToolCallSyntax): ParsedCall[] | undefined {
  switch (syntax) {
    case "hermes":
    case "generic": {
      const end = text.lastIndexOf("</tool_call>");
      return end === -1 ? undefined : parseToolCalls(text.slice(0, end + "</tool_call>".length), syntax);
    }
    case "mistral-args": {
      const last = text.lastIndexOf("[TOOL_CALLS]");
      return last <= 0 ? undefined : parseToolCalls(text.slice(0, last), syntax);
    }
    case "mistral": {
      const objects = completeListItems(text.replace(/^\s*\[TOOL_CALLS\]/, "").trimStart());
      return objects.length === 0 ? undefined : parseToolCalls(`[${objects.join(",")}]`, syntax);
    }
    case "llama3":
      // One call per turn: a cut call is no call.
      return undefined;
  }
}

/** The complete top-level items of a JSON list whose text was cut off (strings and nesting respected). */
function completeListItems(text: string): string[] {
  if (!text.startsWith("[")) return [];
  const items: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{" || c === "[") {
      if (depth === 0) start = i;
      depth++;
    } else if (c === "}" || c === "]") {
      if (depth === 0) break;
      depth--;
      if (depth === 0 && start !== -1) {
        items.push(text.slice(start, i + 1));
        start = -1;
      }
    }
  }
  return items;
}
