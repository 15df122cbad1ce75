/**
 * Ollama's Modelfile, the subset edgelm honours: FROM, PARAMETER, SYSTEM,
 * TEMPLATE, ADAPTER (an uploaded blob, `@sha256:<hex>`: a path on the client is
 * refused, as the server cannot read it) and LICENSE (accepted, not kept).
 * MESSAGE is refused with a 400 naming it; any other instruction is a 400 too. Values may be
 * bare, "quoted" or """triple-quoted""" (several lines). PARAMETER lines are
 * typed as Ollama does (numbers, booleans; `stop` repeats into a list).
 */
import { EdgeError } from "../errors.js";

export interface Modelfile {
  from?: string;
  system?: string;
  template?: string;
  parameters: Record<string, unknown>;
  /** ADAPTER lines: the uploaded blobs' SHA-256 (hex), in order. */
  adapters: string[];
}

const INSTRUCTION = /^\s*([A-Za-z]+)\s+/;

/** Parses Modelfile text; throws invalid_request / unsupported naming the line. */
export function parseModelfile(text: string): Modelfile {
  const out: Modelfile = { parameters: {}, adapters: [] };
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
    if (!match) throw bad(line, `expected an instruction (FROM, ADAPTER, PARAMETER, SYSTEM, TEMPLATE), got "${rest.split("\n")[0]!.slice(0, 40)}"`);
    const instruction = match[1]!.toUpperCase();
    rest = rest.slice(match[0].length);
    const { value, consumed } = readValue(rest, line);
    const at = line; // the instruction's own line, for its errors
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
        if (!p) throw bad(at, `PARAMETER needs a name and a value (e.g. PARAMETER temperature 0.7)`);
        addParameter(out.parameters, p[1]!, unquote(p[2]!.trim()));
        break;
      }
      case "ADAPTER": {
        const blob = /^@sha256[:-]([0-9a-f]{64})$/.exec(value.trim());
        if (!blob) {
          throw new EdgeError(
            "unsupported",
            `Modelfile line ${at}: ADAPTER ${value.trim()} names a file on the client, which the server cannot read; upload it with POST /api/blobs/sha256:<digest> and write ADAPTER @sha256:<digest> (or send "adapters": {"<file name>": "sha256:<digest>"})`,
            { param: "modelfile" },
          );
        }
        out.adapters.push(blob[1]!);
        break;
      }
      case "MESSAGE":
        throw new EdgeError("unsupported", `Modelfile line ${at}: MESSAGE is not supported; send the conversation with each /api/chat request`, { param: "modelfile" });
      default:
        throw bad(at, `unknown instruction ${instruction} (edgelm reads FROM, ADAPTER, PARAMETER, SYSTEM, TEMPLATE, LICENSE)`);
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
