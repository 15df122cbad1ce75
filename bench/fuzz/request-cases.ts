/**
 * Hostile HTTP requests for the gateway, from a seed: for every route of the
 * dialects (OpenAI, Responses, Ollama with its model management, llama-server's
 * own routes, events, the probes and the admin API), a plausible body mutated
 * by one of a few families — nesting far past the body budget, schemas past the
 * schema budgets (counts that expand into huge grammars included), huge strings
 * and arrays, malformed and truncated JSON, wrong types, absurd numbers,
 * unknown fields, missing or wrong keys.
 * Bodies are JSON text built directly (never by a recursive serializer), so a
 * 10,000-level case costs 60 KB of string, not a stack.
 *
 * Model management and admin cases never reach outside the machine nor touch the
 * served model: pulls and pushes name oci:// registries on a 127.0.0.1 port that
 * refuses, deletes name models that do not exist, copies and creates write only
 * `fuzz-*` names, and admin calls carrying the admin key ask only for what must be
 * refused (a path to swap to, an unknown runner or model) or is harmless (alerts);
 * the ones that would change the served model (add a runner, swap, weights) go
 * without the admin key, or with the inference key, and must be refused for it.
 */
import { createHash } from "node:crypto";
import { seededRandom } from "./gguf-mutator.js";

export interface RequestCase {
  /** Family and detail, e.g. "nested:3000", "huge-string:prompt". */
  kind: string;
  method: "GET" | "POST" | "PUT" | "DELETE" | "HEAD";
  path: string;
  body?: string;
  contentType?: string;
  /** The Authorization header, when the case sends one. */
  authorization?: string;
}

export interface RequestCaseOptions {
  /** Size of the largest strings. Default 4.5 MB. */
  hugeBytes?: number;
  /** The gateway's inference key (`server.api_keys`), sent with every case but the auth ones. */
  apiKey?: string;
  /** The gateway's admin key (`server.admin_keys`), sent with some admin cases. */
  adminKey?: string;
  /** A 127.0.0.1 port where nothing listens, for pulls and pushes. Default 9 (discard, closed here). */
  refusingPort?: number;
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
    // llama-server's own routes (no model named: the first served one answers).
    "/completion": { prompt: `"Once upon a time"`, n_predict: "4", temperature: "0" },
    "/completions": { prompt: `"Once upon a time"`, n_predict: "4" },
    "/infill": { input_prefix: `"Once upon"`, input_suffix: `" time."`, n_predict: "4" },
    "/tokenize": { content: `"Once upon a time"` },
    "/detokenize": { tokens: "[1,2,3]" },
    "/apply-template": { messages: MESSAGES },
    "/embedding": { content: `"Once upon a time"` },
    "/embeddings": { content: `"Once upon a time"` },
    "/chat/completions": { model: `"${model}"`, messages: MESSAGES, max_tokens: "4" },
  };
}

/** Model management bodies (POST unless said): none downloads, pushes anywhere, or deletes what exists. */
function managementBodies(model: string, registry: string): Record<string, Record<string, string>> {
  return {
    "/api/pull": { model: `"${registry}/fuzz/pulled:1"`, stream: "true" },
    "/api/push": { model: `"${registry}/fuzz/pushed:1"`, stream: "false" },
    "/api/copy": { source: `"${model}"`, destination: `"fuzz-copy:1"` },
    "/api/create": { model: `"fuzz-made:1"`, from: `"${model}"`, system: `"You are terse."`, stream: "false" },
    "/api/delete": { model: `"fuzz-absent:1"` },
  };
}

const GET_ROUTES = [
  "/health",
  "/ready",
  "/v1/models",
  "/api/tags",
  "/api/ps",
  "/api/version",
  "/props",
  "/slots",
  "/v1/health",
  "/nope",
];

/** Admin routes and bodies; `safe` ones may carry the admin key (refused or harmless), the rest must not. */
const ADMIN_CALLS: ReadonlyArray<{ method: "GET" | "POST" | "PUT"; path: string; body?: string; safe: boolean }> = [
  { method: "GET", path: "/admin/models", safe: true },
  { method: "GET", path: "/admin/policies", safe: true },
  { method: "GET", path: "/admin/alerts", safe: true },
  { method: "GET", path: "/admin/rollout", safe: true },
  { method: "POST", path: "/admin/swap", body: `{"model":"MODEL","to":"../../../../tmp/x.gguf"}`, safe: true },
  { method: "POST", path: "/admin/swap", body: `{"model":"MODEL","to":"/etc/shadow"}`, safe: true },
  { method: "POST", path: "/admin/swap", body: `{"model":"MODEL","to":"fuzz-absent:1"}`, safe: true },
  { method: "POST", path: "/admin/swap", body: `{"model":"fuzz-absent"}`, safe: true },
  { method: "POST", path: "/admin/swap", body: `{"model":"MODEL","parallel":0,"mode":"warp"}`, safe: true },
  { method: "POST", path: "/admin/swap", body: `{"model":"MODEL"}`, safe: false },
  { method: "POST", path: "/admin/runners/add", body: `{"model":"fuzz-absent"}`, safe: true },
  { method: "POST", path: "/admin/runners/add", body: `{"model":"MODEL","extra":1}`, safe: true },
  { method: "POST", path: "/admin/runners/add", body: `{"model":"MODEL"}`, safe: false },
  { method: "POST", path: "/admin/runners/remove", body: `{"model":"MODEL","runner":"fuzz-absent"}`, safe: true },
  { method: "POST", path: "/admin/runners/remove", body: `{"model":"MODEL"}`, safe: false },
  { method: "PUT", path: "/admin/routing/weights", body: `{}`, safe: true },
  { method: "PUT", path: "/admin/routing/weights", body: `{"peer":2,"cloud":-1}`, safe: true },
  { method: "PUT", path: "/admin/routing/weights", body: `{"cloud":1}`, safe: false },
  { method: "POST", path: "/admin/alerts", body: `{"name":"FuzzAlert","summary":"raised by the request fuzzer","severity":"info"}`, safe: true },
  { method: "POST", path: "/admin/alerts", body: `{"name":"FuzzAlert","resolve":true}`, safe: true },
  { method: "POST", path: "/admin/alerts", body: `{"name":"bad name","summary":""}`, safe: true },
  { method: "POST", path: "/admin/rollout/check", body: `{"model":"fuzz-absent"}`, safe: true },
  { method: "POST", path: "/admin/rollout/rollback", body: `{"model":"fuzz-absent"}`, safe: true },
  { method: "POST", path: "/admin/rollout/rollback", body: `{"model":"MODEL"}`, safe: false },
];

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
  else if (path === "/v1/chat/completions" || path === "/chat/completions") fields.response_format = `{"type":"json_schema","json_schema":{"name":"o","schema":${schema}}}`;
  else if (path === "/v1/responses") fields.text = `{"format":{"type":"json_schema","name":"o","schema":${schema}}}`;
  else if (path === "/completion" || path === "/completions") fields.json_schema = schema;
  else return false;
  return true;
}

const WRONG_VALUES = ["null", "true", "-1", "1e308", "0.5", `""`, `"x"`, "[]", "{}", `[1,"a",null]`, `{"a":{"b":[]}}`, "-0", "123456789012345678901234567890"];
const NUMBER_FIELDS = ["max_tokens", "temperature", "top_p", "n", "seed", "logprobs", "top_logprobs", "frequency_penalty", "max_output_tokens"];

/** Counts that expand into huge grammars, and the 106 KB schema of 1,900 bounded text fields that once cost a runner 1.2 GB. */
const COUNT_SCHEMAS: Record<string, () => string> = {
  "min-items": () => `{"type":"array","items":{"type":"string"},"minItems":100000000}`,
  "min-length": () => `{"type":"string","minLength":50000000}`,
  pattern: () => `{"type":"string","pattern":"^a{100000000}$"}`,
  "max-lengths": () => `{"type":"object","properties":{${Array.from({ length: 1900 }, (_, j) => `"p${j}":{"type":"string","maxLength":${1999 - (j % 900)}}`).join(",")}}}`,
};

/** A case for the blob routes: HEAD of a digest, or a POST of a few bytes with their own digest or another. */
function blobCase(random: Random): RequestCase {
  const bytes = Array.from({ length: 1 + Math.floor(random() * 64) }, () => String.fromCharCode(32 + Math.floor(random() * 90))).join("");
  const own = createHash("sha256").update(bytes).digest("hex");
  const digest = pick(random, [`sha256:${own}`, `sha256:${"0".repeat(64)}`, "sha256:xyz", own, "../../etc/passwd"]);
  const path = `/api/blobs/${encodeURIComponent(digest)}`;
  if (random() < 0.4) return { kind: "blob:head", method: "HEAD", path };
  return { kind: `blob:post${digest === `sha256:${own}` ? ":own" : ""}`, method: "POST", path, body: bytes, contentType: "application/octet-stream" };
}

/** An admin call with the admin key (only calls that must be refused or are harmless), the inference key, none or a wrong one. */
function adminCase(random: Random, model: string, keys: { apiKey?: string; adminKey?: string }): RequestCase {
  const call = pick(random, ADMIN_CALLS);
  const holders = [...(call.safe && keys.adminKey ? ["admin", "admin"] : []), ...(keys.apiKey ? ["api"] : []), "none", "wrong"];
  const holder = pick(random, holders);
  const key = holder === "admin" ? keys.adminKey : holder === "api" ? keys.apiKey : holder === "wrong" ? "fuzz-wrong-key" : undefined;
  let body = call.body?.replace("MODEL", model);
  if (body !== undefined && holder === "admin" && random() < 0.2) body = body.slice(0, Math.floor(random() * body.length));
  return { kind: `admin:${holder}:${call.safe ? "safe" : "guarded"}`, method: call.method, path: call.path, ...(body !== undefined ? { body } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}) };
}

/** `count` cases for `model`, reproducible from `seed`. `hugeBytes` is the size of the largest strings (default 4.5 MB). */
export function requestCases(model: string, count: number, seed: number, options: RequestCaseOptions = {}): RequestCase[] {
  const hugeBytes = options.hugeBytes ?? 4.5 * 1024 * 1024;
  const random = seededRandom(seed);
  const bases = { ...baseBodies(model), ...managementBodies(model, `oci://127.0.0.1:${options.refusingPort ?? 9}`) };
  const posts = Object.keys(bases);
  const cases: RequestCase[] = [];
  const authorization = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  const push = (item: RequestCase): void => void cases.push(item.authorization || item.kind.startsWith("admin:") ? item : { ...item, ...authorization });
  for (let i = 0; i < count; i++) {
    const route = random();
    if (route < 0.05) {
      push({ kind: "get", method: "GET", path: pick(random, GET_ROUTES) });
      continue;
    }
    if (route < 0.13) {
      push(adminCase(random, model, options));
      continue;
    }
    if (route < 0.16) {
      push(blobCase(random));
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
      const shape = pick(random, ["deep", "wide", "enum", ...Object.keys(COUNT_SCHEMAS)]);
      const schema =
        shape === "deep"
          ? '{"type":"object","properties":{"a":'.repeat(40) + '{"type":"string"}' + "}}".repeat(40)
          : shape === "wide"
            ? `{"type":"object","properties":{${Array.from({ length: 2100 }, (_, j) => `"p${j}":{"type":"integer"}`).join(",")}}}`
            : shape === "enum"
              ? `{"type":"string","enum":[${Array.from({ length: 3000 }, (_, j) => `"v${j}"`).join(",")}]}`
              : COUNT_SCHEMAS[shape]!();
      if (!withSchema(path, fields, schema)) fields.tools = `[{"type":"function","function":{"name":"f","parameters":${schema}}}]`;
      kind = `schema:${shape}`;
    } else if (family < 0.25) {
      const bytes = Math.floor(hugeBytes * (0.2 + random() * 0.8));
      const text = JSON.stringify("Once upon a time ".repeat(Math.ceil(bytes / 17)).slice(0, bytes));
      const key = ["prompt", "input", "content", "messages", "input_prefix", "system"].find((k) => k in fields) ?? "value";
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
      if (random() < 0.3 && ["/v1/chat/completions", "/v1/completions", "/completion", "/chat/completions"].includes(path)) fields.stream = "true";
      if (random() < 0.3 && (path === "/api/generate" || path === "/api/chat")) fields.stream = "true";
    }
    const item: RequestCase = { kind, method: path === "/api/delete" ? "DELETE" : "POST", path, body: body ?? objectText(fields), ...(contentType ? { contentType } : {}) };
    // A few inference and management calls without their key, or with a wrong one.
    if (options.apiKey && random() < 0.03) cases.push({ ...item, kind: `auth:${kind}`, ...(random() < 0.5 ? { authorization: "Bearer fuzz-wrong-key" } : {}) });
    else push(item);
  }
  return cases;
}
