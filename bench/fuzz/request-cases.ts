/**
 * Hostile HTTP requests for the gateway, from a seed: for every route of both
 * dialects (OpenAI, Responses, Ollama, events, the probes and read-only
 * admin), a plausible body mutated by one of a few families — nesting far past
 * the body budget, schemas past the schema budgets, huge strings and arrays,
 * malformed and truncated JSON, wrong types, absurd numbers, unknown fields.
 * Bodies are JSON text built directly (never by a recursive serializer), so a
 * 10,000-level case costs 60 KB of string, not a stack.
 */
import { seededRandom } from "./gguf-mutator.js";

export interface RequestCase {
  /** Family and detail, e.g. "nested:3000", "huge-string:prompt". */
  kind: string;
  method: "GET" | "POST" | "PUT";
  path: string;
  body?: string;
  contentType?: string;
}

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const MESSAGES = `[{"role":"user","content":"Once upon a time"}]`;

/** A valid body per POST route; generation is kept short so thousands of cases stay cheap. */
function baseBodies(model: string): Record<string, Record<string, string>> {
  return {
    "/v1/chat/completions": { model: `"${model}"`, messages: MESSAGES, max_tokens: "4", temperature: "0" },
    "/v1/completions": { model: `"${model}"`, prompt: `"Once upon a time"`, max_tokens: "4", temperature: "0" },
    "/v1/embeddings": { model: `"${model}"`, input: `"Once upon a time"` },
    "/v1/responses": { model: `"${model}"`, input: `"Once upon a time"`, max_output_tokens: "4" },
    "/v1/events": { type: `"fuzz"`, value: "1" },
    "/api/generate": { model: `"${model}"`, prompt: `"Once upon a time"`, stream: "false", options: `{"num_predict":4,"temperature":0}` },
    "/api/chat": { model: `"${model}"`, messages: MESSAGES, stream: "false", options: `{"num_predict":4}` },
    "/api/embed": { model: `"${model}"`, input: `"Once upon a time"` },
    "/api/embeddings": { model: `"${model}"`, prompt: `"Once upon a time"` },
    "/api/show": { model: `"${model}"` },
  };
}

const GET_ROUTES = ["/health", "/ready", "/v1/models", "/api/tags", "/api/ps", "/api/version", "/admin/models", "/admin/policies", "/nope"];

function objectText(fields: Record<string, string>): string {
  return `{${Object.entries(fields)
    .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
    .join(",")}}`;
}

function nested(levels: number, random: Random): string {
  const [open, close] = random() < 0.5 ? ['{"a":', "}"] : ["[", "]"];
  return open.repeat(levels) + "1" + close.repeat(levels);
}

/** Where each route takes an output schema, if it does. */
function withSchema(path: string, fields: Record<string, string>, schema: string): boolean {
  if (path === "/api/generate" || path === "/api/chat") fields.format = schema;
  else if (path === "/v1/chat/completions") fields.response_format = `{"type":"json_schema","json_schema":{"name":"o","schema":${schema}}}`;
  else if (path === "/v1/responses") fields.text = `{"format":{"type":"json_schema","name":"o","schema":${schema}}}`;
  else return false;
  return true;
}

const WRONG_VALUES = ["null", "true", "-1", "1e308", "0.5", `""`, `"x"`, "[]", "{}", `[1,"a",null]`, `{"a":{"b":[]}}`, "-0", "123456789012345678901234567890"];
const NUMBER_FIELDS = ["max_tokens", "temperature", "top_p", "n", "seed", "logprobs", "top_logprobs", "frequency_penalty", "max_output_tokens"];

/** `count` cases for `model`, reproducible from `seed`. `hugeBytes` is the size of the largest strings (default 4.5 MB). */
export function requestCases(model: string, count: number, seed: number, hugeBytes = 4.5 * 1024 * 1024): RequestCase[] {
  const random = seededRandom(seed);
  const bases = baseBodies(model);
  const posts = Object.keys(bases);
  const cases: RequestCase[] = [];
  for (let i = 0; i < count; i++) {
    if (random() < 0.06) {
      cases.push({ kind: "get", method: "GET", path: pick(random, GET_ROUTES) });
      continue;
    }
    const path = pick(random, posts);
    const fields = { ...bases[path]! };
    const family = random();
    let kind: string;
    let body: string | undefined;
    let contentType: string | undefined;
    if (family < 0.12) {
      const levels = pick(random, [65, 200, 600, 3000, 10_000]);
      const key = random() < 0.5 ? pick(random, Object.keys(fields)) : "metadata";
      if (!withSchema(path, fields, nested(levels, random)) || random() < 0.4) fields[key] = nested(levels, random);
      kind = `nested:${levels}`;
    } else if (family < 0.22) {
      const shape = pick(random, ["deep", "wide", "enum"]);
      const schema =
        shape === "deep"
          ? '{"type":"object","properties":{"a":'.repeat(40) + '{"type":"string"}' + "}}".repeat(40)
          : shape === "wide"
            ? `{"type":"object","properties":{${Array.from({ length: 2100 }, (_, j) => `"p${j}":{"type":"integer"}`).join(",")}}}`
            : `{"type":"string","enum":[${Array.from({ length: 3000 }, (_, j) => `"v${j}"`).join(",")}]}`;
      if (!withSchema(path, fields, schema)) fields.tools = `[{"type":"function","function":{"name":"f","parameters":${schema}}}]`;
      kind = `schema:${shape}`;
    } else if (family < 0.25) {
      const bytes = Math.floor(hugeBytes * (0.2 + random() * 0.8));
      const text = JSON.stringify("Once upon a time ".repeat(Math.ceil(bytes / 17)).slice(0, bytes));
      const key = "prompt" in fields ? "prompt" : "input" in fields ? "input" : "messages" in fields ? "messages" : "value";
      fields[key] = key === "messages" ? `[{"role":"user","content":${text}}]` : text;
      kind = `huge-string:${key}`;
    } else if (family < 0.3) {
      const n = pick(random, [1000, 20_000, 100_000]);
      const what = pick(random, ["messages", "stop", "input"]);
      fields[what] = what === "messages" ? `[${Array(n).fill(`{"role":"user","content":"a"}`).join(",")}]` : `[${Array(n).fill(`"a"`).join(",")}]`;
      kind = `huge-array:${what}:${n}`;
    } else if (family < 0.45) {
      const whole = objectText(fields);
      const how = pick(random, ["truncated", "garbage", "scalar", "empty", "bad-utf8", "trailing", "form", "duplicate-keys"]);
      kind = `malformed:${how}`;
      if (how === "truncated") body = whole.slice(0, Math.floor(random() * whole.length));
      else if (how === "garbage") body = Array.from({ length: 1 + Math.floor(random() * 200) }, () => String.fromCharCode(Math.floor(random() * 0x7f))).join("");
      else if (how === "scalar") body = pick(random, ["1", `"x"`, "null", "[]", "true", "[{}]"]);
      else if (how === "empty") body = "";
      else if (how === "bad-utf8") body = whole.replace("Once", "\udc00\ud800");
      else if (how === "trailing") body = `${whole},}`;
      else if (how === "form") {
        body = "model=x&prompt=y";
        contentType = "application/x-www-form-urlencoded";
      } else body = whole.replace("{", `{"model":1,"model":[],`);
    } else if (family < 0.7) {
      const key = random() < 0.5 ? pick(random, Object.keys(fields)) : pick(random, NUMBER_FIELDS);
      fields[key] = pick(random, WRONG_VALUES);
      kind = `wrong-type:${key}`;
    } else if (family < 0.8) {
      fields[pick(random, ["warp_speed", "__proto__", "constructor", "x".repeat(300), "options"])] = pick(random, WRONG_VALUES);
      kind = "unknown-field";
    } else if (family < 0.9) {
      const role = pick(random, ["system", "tool", "wizard", "", "assistant"]);
      fields.messages = pick(random, [
        `[{"role":"${role}","content":"hi"}]`,
        `[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:,"}}]}]`,
        `[{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{not json"}}]}]`,
        "[]",
        `[{"role":"user"}]`,
      ]);
      kind = `messages:${role || "empty"}`;
    } else {
      kind = "valid";
      if (random() < 0.3 && (path === "/v1/chat/completions" || path === "/v1/completions")) fields.stream = "true";
      if (random() < 0.3 && (path === "/api/generate" || path === "/api/chat")) fields.stream = "true";
    }
    cases.push({ kind, method: "POST", path, body: body ?? objectText(fields), ...(contentType ? { contentType } : {}) });
  }
  return cases;
}
