/**
 * Ollama's Modelfile, the subset edgelm honours: FROM, PARAMETER, SYSTEM,
 * TEMPLATE and LICENSE (accepted, not kept). ADAPTER and MESSAGE are refused
 * with a 400 naming them; any other instruction is a 400 too. Values may be
 * bare, "quoted" or """triple-quoted""" (several lines). PARAMETER lines are
 * typed as Ollama does (numbers, booleans; `stop` repeats into a list).
 */
import { EdgeError } from "../errors.js";

export interface Modelfile {
  from?: string;
  system?: string;
  template?: string;
  parameters: Record<string, unknown>;
}

const INSTRUCTION = /^\s*([A-Za-z]+)\s+/;

/** Parses Modelfile text; throws invalid_request / unsupported naming the line. */
export function parseModelfile(text: string): Modelfile {
  const out: Modelfile = { parameters: {} };
  let rest = text.replace(/\r\n/g, "\n");
  let line = 1;
  while (rest.length > 0) {
    const blank = /^\s*(#[^\n]*)?(\n|$)/.exec(rest);
    if (blank && blank[0].length > 0) {
      line += blank[0].endsWith("\n") ? 1 : 0;
      rest = rest.slice(blank[0].length);
      continue;
    }
    const match = INSTRUCTION.exec(rest);
    if (!match) throw bad(line, `expected an instruction (FROM, PARAMETER, SYSTEM, TEMPLATE), got "${rest.split("\n")[0]!.slice(0, 40)}"`);
    const instruction = match[1]!.toUpperCase();
    rest = rest.slice(match[0].length);
    const { value, consumed } = readValue(rest, line);
    line += (rest.slice(0, consumed).match(/\n/g) ?? []).length;
    rest = rest.slice(consumed);
    switch (instruction) {
      case "FROM":
        out.from = value;
        break;
      case "SYSTEM":
        out.system = value;
        break;
      case "TEMPLATE":
        out.template = value;
        break;
      case "LICENSE":
        break;
      case "PARAMETER": {
        const p = /^(\S+)\s+([\s\S]+)$/.exec(value.trim());
        if (!p) throw bad(line, `PARAMETER needs a name and a value (e.g. PARAMETER temperature 0.7)`);
        addParameter(out.parameters, p[1]!, unquote(p[2]!.trim()));
        break;
      }
      case "ADAPTER":
        throw new EdgeError("unsupported", `Modelfile line ${line}: ADAPTER (LoRA adapters) is not supported by edgelm; merge the adapter into the GGUF first`, { param: "modelfile" });
      case "MESSAGE":
        throw new EdgeError("unsupported", `Modelfile line ${line}: MESSAGE is not supported; send the conversation with each /api/chat request`, { param: "modelfile" });
      default:
        throw bad(line, `unknown instruction ${instruction} (edgelm reads FROM, PARAMETER, SYSTEM, TEMPLATE, LICENSE)`);
    }
  }
  return out;
}

/** Adds one PARAMETER as Ollama types it: `stop` collects strings; numbers and booleans are parsed. */
export function addParameter(parameters: Record<string, unknown>, name: string, raw: string): void {
  if (name === "stop") {
    const list = Array.isArray(parameters.stop) ? (parameters.stop as string[]) : [];
    parameters.stop = [...list, raw];
    return;
  }
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw)) parameters[name] = Number(raw);
  else if (raw === "true" || raw === "false") parameters[name] = raw === "true";
  else parameters[name] = raw;
}

function readValue(text: string, line: number): { value: string; consumed: number } {
  if (text.startsWith('"""')) {
    const end = text.indexOf('"""', 3);
    if (end === -1) throw bad(line, 'a """ value is not closed');
    const after = /^[^\n]*(\n|$)/.exec(text.slice(end + 3))!;
    return { value: text.slice(3, end), consumed: end + 3 + after[0].length };
  }
  const eol = text.indexOf("\n");
  const raw = eol === -1 ? text : text.slice(0, eol);
  return { value: unquote(raw.trim()), consumed: eol === -1 ? text.length : eol + 1 };
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    try {
      return JSON.parse(value) as string;
    } catch {
      return value.slice(1, -1);
    }
  }
  return value;
}

function bad(line: number, message: string): EdgeError {
  return new EdgeError("invalid_request", `Modelfile line ${line}: ${message}`, { param: "modelfile" });
}
