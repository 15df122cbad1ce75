/**
 * Ollama's prompt TEMPLATE (Go text/template), the subset edgelm renders:
 * `{{ .System }}`, `{{ .Prompt }}`, `{{ .Response }}`, `{{ if .X }}…{{ else }}…{{ end }}`
 * and the `{{-` / `-}}` trim markers. Anything else (`range .Messages`,
 * functions, pipelines) is refused when the model is created, naming it.
 * A chat renders one template pass per user turn, as Ollama does for templates
 * without `.Messages`: the system message goes to the first, each earlier
 * assistant reply fills `.Response`, and the last pass ends where the reply begins.
 */
import { EdgeError } from "../errors.js";

type Node = { text: string } | { field: Field } | { if: Field; then: Node[]; else: Node[] };
type Field = "System" | "Prompt" | "Response";
const FIELDS = new Set<string>(["System", "Prompt", "Response"]);

export interface TemplateValues {
  System?: string;
  Prompt?: string;
  Response?: string;
}

/** Parses a template; throws unsupported naming the first construct outside the subset. */
export function parseTemplate(template: string): Node[] {
  const tokens: Array<{ text: string } | { action: string }> = [];
  const re = /\{\{(-?)\s*([\s\S]*?)\s*(-?)\}\}/g;
  let last = 0;
  let trimNext = false;
  for (let m = re.exec(template); m; m = re.exec(template)) {
    let text = template.slice(last, m.index);
    if (trimNext) text = text.replace(/^\s+/, "");
    if (m[1] === "-") text = text.replace(/\s+$/, "");
    if (text) tokens.push({ text });
    tokens.push({ action: m[2]! });
    trimNext = m[3] === "-";
    last = m.index + m[0].length;
  }
  const tail = trimNext ? template.slice(last).replace(/^\s+/, "") : template.slice(last);
  if (tail) tokens.push({ text: tail });
  let at = 0;
  const block = (inside: boolean): { nodes: Node[]; closer: string | undefined } => {
    const nodes: Node[] = [];
    while (at < tokens.length) {
      const token = tokens[at++]!;
      if ("text" in token) {
        nodes.push({ text: token.text });
        continue;
      }
      const action = token.action;
      if (action === "end" || action === "else") {
        if (!inside) throw unsupported(`{{ ${action} }} without an {{ if }}`);
        return { nodes, closer: action };
      }
      const cond = /^if\s+\.(\w+)$/.exec(action);
      if (cond) {
        const field = fieldOf(cond[1]!, action);
        const then = block(true);
        let otherwise: Node[] = [];
        if (then.closer === "else") {
          const rest = block(true);
          if (rest.closer !== "end") throw unsupported("an {{ if }} without its {{ end }}");
          otherwise = rest.nodes;
        } else if (then.closer !== "end") throw unsupported("an {{ if }} without its {{ end }}");
        nodes.push({ if: field, then: then.nodes, else: otherwise });
        continue;
      }
      const field = /^\.(\w+)$/.exec(action);
      if (!field) throw unsupported(`{{ ${action} }}`);
      nodes.push({ field: fieldOf(field[1]!, action) });
    }
    if (inside) throw unsupported("an {{ if }} without its {{ end }}");
    return { nodes, closer: undefined };
  };
  return block(false).nodes;
}

/** Renders a parsed template with `values` (absent values are empty, and false in {{ if }}). */
export function renderTemplate(nodes: Node[], values: TemplateValues): string {
  let out = "";
  for (const node of nodes) {
    if ("text" in node) out += node.text;
    else if ("field" in node) out += values[node.field] ?? "";
    else out += renderTemplate(values[node.if] ? node.then : node.else, values);
  }
  return out;
}

/** A conversation through a template: one pass per user turn, as Ollama renders templates without .Messages. */
export function renderChatTemplate(template: string, messages: ReadonlyArray<{ role: string; content: string }>, defaultSystem?: string): string {
  const nodes = parseTemplate(template);
  let system = messages.filter((m) => m.role === "system").map((m) => m.content).join("\n") || defaultSystem;
  let out = "";
  let prompt: string | undefined;
  const flush = (response: string | undefined): void => {
    if (prompt === undefined && system === undefined) return;
    const rendered = renderTemplate(nodes, { ...(system !== undefined ? { System: system } : {}), ...(prompt !== undefined ? { Prompt: prompt } : {}), ...(response !== undefined ? { Response: response } : {}) });
    // The last pass stops where the model's reply begins.
    out += response === undefined ? cutAtResponse(nodes, rendered, { System: system, Prompt: prompt }) : rendered;
    system = undefined;
    prompt = undefined;
  };
  for (const m of messages) {
    if (m.role === "user") {
      if (prompt !== undefined) flush("");
      prompt = m.content;
    } else if (m.role === "assistant") flush(m.content);
  }
  flush(undefined);
  return out;
}

/** The rendering up to where {{ .Response }} would go (the whole rendering when the template has none). */
function cutAtResponse(nodes: Node[], rendered: string, values: TemplateValues): string {
  const marker = "\u0000edgelm-response\u0000";
  const withMarker = renderTemplate(nodes, { ...values, Response: marker });
  const at = withMarker.indexOf(marker);
  return at === -1 ? rendered : withMarker.slice(0, at);
}

function fieldOf(name: string, action: string): Field {
  if (!FIELDS.has(name)) throw unsupported(`{{ ${action} }} (edgelm's templates know .System, .Prompt and .Response)`);
  return name as Field;
}

function unsupported(what: string): EdgeError {
  return new EdgeError("unsupported", `template: ${what} is not supported; edgelm renders {{ .System }}, {{ .Prompt }}, {{ .Response }} and {{ if }}/{{ else }}/{{ end }}`, {
    param: "template",
  });
}
