/**
 * What a repetition costs once llama.cpp's grammar parser has read it. Both
 * engines hand GBNF to that parser (node-llama-cpp after its own schema
 * converter, llama-server after `json_schema_to_grammar`), and it rewrites
 * `S{m,n}` into m copies of S followed by n − m nested optional rules; `S{m,}`
 * (and a maximum of 2000 or more, which it leaves open) into the m copies and
 * one rule. A count of 2000 or more to copy is refused by the parser. So a
 * schema's `minLength`/`maxLength`, `minItems`/`maxItems`,
 * `minProperties`/`maxProperties` and a pattern's `{m,n}` each cost about
 * max(m, n) grammar elements when n < 2000, else m. Measured on both engines:
 * about 300 bytes and 2–4 µs per element (1,900 strings with a `maxLength`
 * near 1,999: llama-server 1.17 GB and 6.8 s, a node-llama-cpp runner 490 MB
 * and 5.4 s before its first token).
 */

/** llama.cpp's MAX_REPETITION_THRESHOLD: counts from here on are refused (a minimum) or left open (a maximum). */
export const REPETITION_THRESHOLD = 2000;

/** The most copies of one item either engine compiles: a minimum above this is refused by llama.cpp's grammar parser. */
export const MAX_REPEATED_ITEMS = REPETITION_THRESHOLD - 1;

/** Estimated bytes of a compiled grammar per repetition element (measured, see above). */
export const BYTES_PER_REPETITION = 300;

/** Elements llama.cpp's parser makes of a repetition of at least `min` and at most `max` (undefined: open). */
export function repetitionCost(min: number, max: number | undefined): number {
  const low = Math.max(0, Math.floor(min));
  if (max === undefined || !(max < REPETITION_THRESHOLD)) return low;
  return Math.max(low, Math.floor(max));
}

export interface Quantifier {
  min: number;
  /** Undefined for an open `{m,}`. */
  max: number | undefined;
  /** The quantifier as written, e.g. `{1000000}`. */
  text: string;
}

/** Reads `{m}`, `{m,}`, `{,n}` or `{m,n}` (spaces allowed) at `start`; undefined when that is not one. */
function readQuantifier(text: string, start: number): { quantifier: Quantifier; end: number } | undefined {
  const match = /^\{\s*(\d*)\s*(,\s*(\d*)\s*)?\}/.exec(text.slice(start, start + 64));
  if (!match || (match[1] === "" && match[3] === undefined)) return undefined;
  const min = match[1] === "" ? 0 : Number(match[1]);
  const max = match[2] === undefined ? min : match[3] === "" ? undefined : Number(match[3]);
  return { quantifier: { min, max, text: match[0] }, end: start + match[0].length };
}

/** Index just past a `[...]` class starting at `start` (escapes honoured), or the text's end. */
function skipClass(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && text[i] !== "]") i += text[i] === "\\" ? 2 : 1;
  return i + 1;
}

/**
 * The `{m,n}` quantifiers of a regular expression (a JSON schema `pattern`) or of
 * GBNF text, skipping escapes, character classes and, in GBNF, string literals
 * and comments. Iterative, linear in the text.
 */
export function quantifiers(text: string, syntax: "regex" | "gbnf"): Quantifier[] {
  const found: Quantifier[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\\") i += 2;
    else if (c === "[") i = skipClass(text, i);
    else if (syntax === "gbnf" && c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
      i++;
    } else if (syntax === "gbnf" && c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "{") {
      const read = readQuantifier(text, i);
      if (read) {
        found.push(read.quantifier);
        i = read.end;
      } else i++;
    } else i++;
  }
  return found;
}

/** Elements llama.cpp's parser makes of the repetitions in GBNF text, all together. */
export function gbnfExpansion(gbnf: string): number {
  let total = 0;
  for (const q of quantifiers(gbnf, "gbnf")) total += repetitionCost(q.min, q.max);
  return total;
}
