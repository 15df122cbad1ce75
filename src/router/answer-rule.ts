/**
 * One `router.events.emit` rule, compiled: does an answer match, and what does
 * the event carry? Pure (no I/O): the answer text in, the event's `data` out,
 * redacted and cut to size. See answer-events.ts for where answers come from.
 */
import type { EmitRuleConfig } from "../config/sections/router-emit.js";
import type { RequestAnswerEvent } from "../scheduler/gateway-events.js";
import type { Redactor } from "./redactor.js";

/** Longest answer parsed as JSON, in characters: 1 MiB (longer ones match no field rule). */
const MAX_JSON_ANSWER = 1024 * 1024;

/** The compact event a matching answer becomes (before it enters the outbox). */
export interface AnswerEventBody {
  type: string;
  source: string;
  rule: string;
  /** The local model that answered. */
  model: string;
  request_id: string;
  /** Which of the request's choices answered (OpenAI's `n` > 1); absent for a request of one. */
  choice?: number;
  /** When the answer was finished, ISO 8601. */
  at: string;
  gateway?: string;
  /** The matched value and the included fields (JSON rules, keyed by their path), or `label` (label rules). */
  data: Record<string, unknown>;
  /** Included fields left out because they were objects or arrays longer than max_value_chars as JSON. */
  omitted?: string[];
}

type Scalar = string | number | boolean | null;

/** The value at a dotted path of a parsed JSON value (array elements by index), or undefined. */
function valueAt(root: unknown, path: string): unknown {
  let at: unknown = root;
  for (const name of path.split(".")) {
    if (at === null || typeof at !== "object") return undefined;
    if (!Object.prototype.hasOwnProperty.call(at, name)) return undefined;
    at = (at as Record<string, unknown>)[name];
  }
  return at;
}

export class AnswerRule {
  readonly name: string;
  private readonly models: Set<string> | undefined;
  private readonly pattern: RegExp | undefined;
  private readonly fold: (v: unknown) => unknown;

  constructor(
    private readonly rule: EmitRuleConfig,
    private readonly redactor: Redactor,
    private readonly gatewayId?: string,
  ) {
    this.name = rule.name;
    this.models = rule.models ? new Set(rule.models.map((m) => m.replace(/:latest$/i, "").toLowerCase())) : undefined;
    this.pattern = rule.when.matches !== undefined ? new RegExp(rule.when.matches, rule.when.ignore_case ? "i" : "") : undefined;
    this.fold = rule.when.ignore_case ? (v) => (typeof v === "string" ? v.toLowerCase() : v) : (v) => v;
  }

  /** Whether the rule reads answers of this model (its local name, or the name the request used). */
  appliesTo(answer: Pick<RequestAnswerEvent, "localModel" | "model">): boolean {
    if (answer.localModel === undefined) return false;
    if (!this.models) return true;
    const names = [answer.localModel, answer.model].map((m) => m.replace(/:latest$/i, "").toLowerCase());
    return names.some((n) => this.models!.has(n));
  }

  /** The event for `answer` when it matches, else undefined. Only local answers match. */
  match(answer: RequestAnswerEvent, at = new Date()): AnswerEventBody | undefined {
    if (!this.appliesTo(answer)) return undefined;
    const { when } = this.rule;
    let data: Record<string, unknown>;
    let omitted: string[] = [];
    if (when.field === undefined) {
      const label = answer.text.trim();
      if (!this.test(label)) return undefined;
      data = { label };
    } else {
      if (answer.format !== "json_object" && answer.format !== "json_schema") return undefined;
      if (answer.text.length > MAX_JSON_ANSWER) return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(answer.text);
      } catch {
        return undefined;
      }
      const value = valueAt(parsed, when.field);
      if (!this.test(value)) return undefined;
      data = { [when.field]: value };
      for (const path of this.rule.include) {
        const included = valueAt(parsed, path);
        if (included !== undefined && !(path in data)) data[path] = included;
      }
    }
    const session = this.redactor.session();
    const max = this.rule.max_value_chars;
    const carried: Record<string, unknown> = {};
    for (const [path, value] of Object.entries(data)) {
      const redacted = redactDeep(value, (text) => session.redact(text));
      if (typeof redacted === "string") carried[path] = redacted.length > max ? `${redacted.slice(0, max)}…` : redacted;
      else if (redacted !== null && typeof redacted === "object" && JSON.stringify(redacted).length > max) omitted.push(path);
      else carried[path] = redacted;
    }
    return {
      type: this.rule.type,
      source: this.rule.source ?? answer.localModel!,
      rule: this.rule.name,
      model: answer.localModel!,
      request_id: answer.requestId,
      ...(answer.choice !== undefined ? { choice: answer.choice } : {}),
      at: at.toISOString(),
      ...(this.gatewayId !== undefined ? { gateway: this.gatewayId } : {}),
      data: carried,
      ...(omitted.length > 0 ? { omitted } : {}),
    };
  }

  private test(value: unknown): boolean {
    const { when } = this.rule;
    if (value === undefined || (value !== null && typeof value === "object")) return false;
    const v = this.fold(value as Scalar);
    if (when.equals !== undefined) return v === this.fold(when.equals);
    if (when.in !== undefined) return when.in.some((candidate) => this.fold(candidate) === v);
    return typeof value === "string" && this.pattern!.test(value);
  }
}

/**
 * Redacts every string in a JSON value, and numbers whose digits are personal
 * data (a card or phone number given as a number becomes its placeholder).
 */
function redactDeep(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === "string") return redact(value);
  if (typeof value === "number") {
    const text = String(value);
    const redacted = redact(text);
    return redacted === text ? value : redacted;
  }
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [redact(k), redactDeep(v, redact)]));
  }
  return value;
}
