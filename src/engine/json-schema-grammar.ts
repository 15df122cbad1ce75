/**
 * JSON schema → GBNF (llama.cpp's grammar language, which both engines take),
 * as named rules that a larger grammar can embed: a tool call's wrapper text
 * around its arguments object is one grammar, so the arguments of a call made
 * under `tool_choice: "required"` always parse and match the schema.
 *
 * Supported: `type` (one or a list), `properties` + `required` (the listed
 * properties in the schema's order, optional ones may be left out; no others),
 * `additionalProperties` as a schema when there are no `properties`, `items`,
 * `minItems`/`maxItems`, `minLength`/`maxLength`, `enum`, `const`, `anyOf`/`oneOf`,
 * `allOf` of one schema, `nullable`, and local `$ref`s (`#/$defs/...`,
 * `#/definitions/...`, recursion included). An `integer`/`number` with
 * `minimum >= 0` has no minus sign; other numeric bounds, `pattern` and `format`
 * are not enforced (the value still has the right type). A schema without a
 * type is any JSON value. Whitespace is at most one space where JSON allows it,
 * numbers have at most 16 digits, so a constrained value cannot run on forever
 * in padding.
 */
import { EdgeError } from "../errors.js";

/** Most rules one schema may need (a budget against absurd schemas). */
export const MAX_SCHEMA_RULES = 2000;

type Schema = Record<string, unknown>;

const PRIMITIVES: Record<string, string> = {
  ws: "[ ]?",
  "json-char": '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})',
  "json-string": '"\\"" json-char* "\\""',
  "json-nat": "[0-9] | [1-9] [0-9]{0,15}",
  "json-integer": '"-"? json-nat',
  "json-fraction": '("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?',
  "json-number": "json-integer json-fraction",
  "json-boolean": '"true" | "false"',
  "json-null": '"null"',
  "json-value": "json-object | json-array | json-string | json-number | json-boolean | json-null",
  "json-object": '"{" ws (json-string ":" ws json-value ("," ws json-string ":" ws json-value)*)? ws "}"',
  "json-array": '"[" ws (json-value ("," ws json-value)*)? ws "]"',
};

/** A GBNF string literal for `text`. */
export function gbnfLiteral(text: string): string {
  const escaped = text.replace(/[\\"\n\r\t]/g, (c) => ({ "\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t" })[c]!);
  return `"${escaped}"`;
}

/** Collects named rules; `schemaRule` returns the name of a rule matching a schema. */
export class GbnfRules {
  private readonly rules = new Map<string, string>();
  private readonly refs = new Map<string, string>();
  private readonly usedPrimitives = new Set<string>();

  constructor(private root: Schema = {}) {}

  /** Resolves later `$ref`s against `root` (the next tool's schema), from now on. */
  useRoot(root: Schema): void {
    this.root = root;
    this.refs.clear();
  }

  /** Adds a rule under a unique name derived from `hint`; returns that name. */
  add(hint: string, body: string): string {
    const name = this.reserve(hint);
    this.rules.set(name, body);
    return name;
  }

  /** A rule for `schema` (its root, for `$ref`s, is the one given to the constructor). */
  schemaRule(schema: unknown, hint: string): string {
    if (schema === true || schema === undefined || schema === null) return this.primitive("json-value");
    if (typeof schema !== "object" || Array.isArray(schema)) {
      throw new EdgeError("invalid_request", `${hint}: a JSON schema must be an object`, { param: "tools" });
    }
    return this.add(hint, this.body(schema as Schema, hint));
  }

  /** The grammar text: `root ::= rootBody` and every rule used. */
  grammar(rootBody: string): string {
    const lines = [`root ::= ${rootBody}`];
    for (const [name, body] of this.rules) lines.push(`${name} ::= ${body}`);
    for (const name of this.usedPrimitives) lines.push(`${name} ::= ${PRIMITIVES[name]}`);
    return lines.join("\n") + "\n";
  }

  private reserve(hint: string): string {
    const base = hint.replace(/[^a-zA-Z0-9-]+/g, "-").replace(/^-+|-+$/g, "").toLowerCase() || "r";
    let name = base;
    for (let i = 2; this.rules.has(name) || name in PRIMITIVES || name === "root"; i++) name = `${base}-${i}`;
    if (this.rules.size >= MAX_SCHEMA_RULES) {
      throw new EdgeError("invalid_request", `tools: the schemas need more than ${MAX_SCHEMA_RULES} grammar rules; simplify them`, { param: "tools" });
    }
    this.rules.set(name, "");
    return name;
  }

  /** Marks a primitive (and what it uses) as needed; returns its name. */
  primitive(name: string): string {
    if (this.usedPrimitives.has(name)) return name;
    this.usedPrimitives.add(name);
    for (const word of PRIMITIVES[name]!.match(/\b(ws|json-[a-z]+)\b/g) ?? []) this.primitive(word);
    return name;
  }

  private body(schema: Schema, hint: string): string {
    if (typeof schema.$ref === "string") return this.ref(schema.$ref, hint);
    const alternatives = (schema.anyOf ?? schema.oneOf) as unknown;
    if (Array.isArray(alternatives) && alternatives.length > 0) {
      return alternatives.map((s, i) => this.schemaRule(s, `${hint}-${i}`)).join(" | ");
    }
    if (Array.isArray(schema.allOf) && schema.allOf.length === 1) return this.schemaRule(schema.allOf[0], `${hint}-all`);
    if ("const" in schema) return gbnfLiteral(JSON.stringify(schema.const));
    if (Array.isArray(schema.enum)) {
      if (schema.enum.length === 0) throw new EdgeError("invalid_request", `${hint}: an empty enum matches nothing`, { param: "tools" });
      return schema.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(" | ");
    }
    const types = Array.isArray(schema.type) ? (schema.type as unknown[]) : schema.type === undefined ? [] : [schema.type];
    if (schema.nullable === true && !types.includes("null")) types.push("null");
    if (types.length === 0) {
      if (schema.properties !== undefined) return this.typed(schema, "object", hint);
      if (schema.items !== undefined) return this.typed(schema, "array", hint);
      return this.primitive("json-value");
    }
    if (types.length === 1) return this.typed(schema, String(types[0]), hint);
    return types.map((t) => this.add(`${hint}-${String(t)}`, this.typed(schema, String(t), hint))).join(" | ");
  }

  private typed(schema: Schema, type: string, hint: string): string {
    switch (type) {
      case "string":
        return this.stringBody(schema);
      case "integer":
        return minimumOf(schema) >= 0 ? this.primitive("json-nat") : this.primitive("json-integer");
      case "number":
        return minimumOf(schema) >= 0 ? `${this.primitive("json-nat")} ${this.primitive("json-fraction")}` : this.primitive("json-number");
      case "boolean":
        return this.primitive("json-boolean");
      case "null":
        return this.primitive("json-null");
      case "array":
        return this.arrayBody(schema, hint);
      case "object":
        return this.objectBody(schema, hint);
      default:
        throw new EdgeError("invalid_request", `${hint}: unknown JSON schema type "${type}"`, { param: "tools" });
    }
  }

  private stringBody(schema: Schema): string {
    const min = nonNegative(schema.minLength) ?? 0;
    const max = nonNegative(schema.maxLength);
    if (min === 0 && max === undefined) return this.primitive("json-string");
    const char = this.primitive("json-char");
    return `"\\"" ${char}{${min},${max ?? ""}} "\\""`;
  }

  private arrayBody(schema: Schema, hint: string): string {
    const item = this.schemaRule(schema.items, `${hint}-item`);
    const min = nonNegative(schema.minItems) ?? 0;
    const max = nonNegative(schema.maxItems);
    const ws = this.primitive("ws");
    if (max === 0) return `"[" ${ws} "]"`;
    const more = `("," ${ws} ${item}){${Math.max(0, min - 1)},${max === undefined ? "" : max - 1}}`;
    const items = `${item} ${more}`;
    return `"[" ${ws} ${min === 0 ? `(${items})?` : items} ${ws} "]"`;
  }

  private objectBody(schema: Schema, hint: string): string {
    const ws = this.primitive("ws");
    const properties = schema.properties && typeof schema.properties === "object" ? (schema.properties as Record<string, unknown>) : undefined;
    if (!properties || Object.keys(properties).length === 0) {
      const extra = schema.additionalProperties;
      if (extra && typeof extra === "object") {
        const value = this.schemaRule(extra, `${hint}-value`);
        const kv = `${this.primitive("json-string")} ":" ${ws} ${value}`;
        return `"{" ${ws} (${kv} ("," ${ws} ${kv})*)? ${ws} "}"`;
      }
      return extra === false ? `"{" ${ws} "}"` : this.primitive("json-object");
    }
    const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
    const keyValue = (key: string): string => `${gbnfLiteral(JSON.stringify(key))} ":" ${ws} ${this.schemaRule(properties[key], `${hint}-${key}`)}`;
    const keys = Object.keys(properties);
    const mandatory = keys.filter((k) => required.has(k)).map(keyValue);
    const optional = keys.filter((k) => !required.has(k)).map(keyValue);
    // Optional properties keep their order; each may be left out. After something was written, each comes as ("," kv)?.
    const tail = optional.map((kv) => `("," ${ws} ${kv})?`).join(" ");
    if (mandatory.length > 0) return `"{" ${ws} ${mandatory.join(` "," ${ws} `)} ${tail} ${ws} "}"`;
    // Nothing required: the first property present starts the list, the later ones follow with commas.
    let firstOf = "";
    for (let i = optional.length - 1; i >= 0; i--) {
      const rest = optional.slice(i + 1).map((kv) => `("," ${ws} ${kv})?`).join(" ");
      const start = `${optional[i]} ${rest}`;
      firstOf = firstOf ? this.add(`${hint}-from-${i}`, `${start} | ${firstOf}`) : this.add(`${hint}-from-${i}`, start);
    }
    return `"{" ${ws} ${firstOf}? ${ws} "}"`;
  }

  private ref(ref: string, hint: string): string {
    const known = this.refs.get(ref);
    if (known) return known;
    const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    const target = match ? ((this.root[match[1]!] as Record<string, unknown> | undefined)?.[decodeURIComponent(match[2]!)] as unknown) : undefined;
    if (target === undefined) throw new EdgeError("invalid_request", `${hint}: cannot resolve $ref "${ref}" (only #/$defs/... and #/definitions/... in the same schema)`, { param: "tools" });
    const name = this.reserve(`ref-${match![2]}`);
    this.refs.set(ref, name);
    this.rules.set(name, this.body(target as Schema, name));
    return name;
  }
}

function nonNegative(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
}

function minimumOf(schema: Schema): number {
  const min = typeof schema.minimum === "number" ? schema.minimum : typeof schema.exclusiveMinimum === "number" ? schema.exclusiveMinimum : -Infinity;
  return min;
}
