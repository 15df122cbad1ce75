import { z } from "zod";

/** A JSON value an answer's field is compared with. */
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** A field of a JSON answer: a name, or names joined by dots for nested objects. */
const fieldPath = z
  .string()
  .regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+){0,7}$/, 'a field name, or up to 8 names joined by dots for nested objects (e.g. "label" or "result.label")');

const regexSource = z
  .string()
  .min(1)
  .max(1000)
  .superRefine((source, ctx) => {
    try {
      new RegExp(source);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: `not a valid regular expression: ${(error as Error).message}` });
    }
  });

/** A name that may appear in topics and metrics labels: no spaces, no MQTT or NATS wildcards. */
const eventWord = z.string().regex(/^[^\s+#*>/]{1,128}$/, "1-128 characters without spaces, /, or the wildcards + # * >");

/**
 * When a rule fires. With `field`: the answer is a JSON object (the request asked
 * for JSON: response_format json_object/json_schema, Ollama's format) and the
 * value at `field` is compared. Without `field`: the whole answer text, trimmed,
 * is the label compared (a classification prompt's answer).
 * Exactly one of `equals`, `in`, `matches` (a regular expression, for strings).
 */
const emitCondition = z
  .object({
    field: fieldPath.optional(),
    equals: scalar.optional(),
    in: z.array(scalar).min(1).max(1000).optional(),
    matches: regexSource.optional(),
    /** Compare strings without regard to case. Default false. */
    ignore_case: z.boolean().default(false),
  })
  .strict()
  .superRefine((when, ctx) => {
    const given = (["equals", "in", "matches"] as const).filter((k) => when[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({ code: "custom", message: `give exactly one of equals, in or matches (got ${given.length === 0 ? "none" : given.join(" and ")})`, path: given.length === 0 ? [] : [given[1]!] });
    }
    if (when.field === undefined) {
      if (when.equals !== undefined && typeof when.equals !== "string") ctx.addIssue({ code: "custom", message: "without `field` the answer text is compared: equals must be a string label", path: ["equals"] });
      if (when.in?.some((v) => typeof v !== "string")) ctx.addIssue({ code: "custom", message: "without `field` the answer text is compared: in must list string labels", path: ["in"] });
    }
  });

/**
 * One entry of `router.events.emit`: publishes a compact event into the outbox
 * when a local answer matches `when`. Carries the matched value and the JSON
 * fields listed in `include` (never the prompt), redacted like a cloud request.
 */
export const emitRuleSchema = z
  .object({
    /** Names the rule in metrics (edgelm_answer_events_total{rule}) and in the event. */
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "1-64 of a-z, 0-9, - and _ (names the rule in metrics)"),
    /** Local models (as served, e.g. "demo") whose answers the rule reads. Default: every local model. */
    models: z.array(z.string().min(1)).min(1).optional(),
    /** The event's `type` (e.g. "camera.suspicious"); fills `{type}` in MQTT topics and NATS subjects. */
    type: eventWord,
    /** The event's `source`; fills `{source}`. Default: the model's name. */
    source: eventWord.optional(),
    when: emitCondition,
    /** Further fields of the JSON answer to carry in the event's `data` (the matched one always is). Needs `when.field`. */
    include: z.array(fieldPath).max(32).default([]),
    /** Longest string carried per value, in characters (longer ones are cut); objects and arrays longer than this as JSON are left out. Default 256. */
    max_value_chars: z.number().int().min(8).max(4096).default(256),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if (rule.include.length > 0 && rule.when.field === undefined) {
      ctx.addIssue({ code: "custom", message: "include names fields of a JSON answer: set when.field too (a label rule carries the label only)", path: ["include"] });
    }
  });

export type EmitRuleConfig = z.infer<typeof emitRuleSchema>;
