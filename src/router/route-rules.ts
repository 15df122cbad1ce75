/**
 * The routing decision for one request to a routed model: the first rule whose
 * conditions all hold decides; with no match the request stays local.
 */
import type { RouteConfig } from "../config/sections/router.js";

export type RouteTarget = "local" | "peer" | "cloud";

export interface RouteFacts {
  /** All prompt text (messages joined), for keyword and pattern rules. */
  promptText: string;
  /** Prompt length in tokens, by the local model's tokenizer. */
  promptTokens: number;
  /** Tokens the request needs in all (prompt + max tokens, when bounded). */
  neededTokens: number;
  /** The local model's context size. */
  localContextSize: number;
  /** Value of the request's `x-edgelm-route` header, if any. */
  header?: string;
}

export interface RouteDecision {
  target: RouteTarget;
  /** Why, for logs, metrics and the response (e.g. "rule prompt_tokens_over 1500"). */
  reason: string;
}

type Rule = RouteConfig["rules"][number];

const patternCache = new Map<string, RegExp>();
function pattern(source: string, flags = "i"): RegExp {
  const key = `${flags}:${source}`;
  let re = patternCache.get(key);
  if (!re) {
    re = new RegExp(source, flags);
    patternCache.set(key, re);
  }
  return re;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Which conditions of a rule hold; undefined when one does not. */
function ruleMatches(rule: Rule, facts: RouteFacts): string[] | undefined {
  const why: string[] = [];
  const w = rule.when;
  if (w.prompt_tokens_over !== undefined) {
    if (facts.promptTokens <= w.prompt_tokens_over) return undefined;
    why.push(`prompt ${facts.promptTokens} tokens > ${w.prompt_tokens_over}`);
  }
  if (w.matches !== undefined) {
    if (!pattern(w.matches).test(facts.promptText)) return undefined;
    why.push(`matches /${w.matches}/`);
  }
  if (w.keywords !== undefined) {
    const hit = w.keywords.find((k) => pattern(`\\b${escapeRegExp(k)}\\b`).test(facts.promptText));
    if (hit === undefined) return undefined;
    why.push(`keyword "${hit}"`);
  }
  if (w.exceeds_local_context !== undefined) {
    const exceeds = facts.neededTokens > facts.localContextSize;
    if (exceeds !== w.exceeds_local_context) return undefined;
    why.push(`needs ${facts.neededTokens} tokens, local context ${facts.localContextSize}`);
  }
  if (w.header !== undefined) {
    if (facts.header !== w.header) return undefined;
    why.push(`header x-edgelm-route: ${w.header}`);
  }
  return why.length > 0 ? why : undefined;
}

export function decideRoute(route: RouteConfig, facts: RouteFacts): RouteDecision {
  for (const rule of route.rules) {
    const why = ruleMatches(rule, facts);
    if (why) return { target: rule.to, reason: `${rule.name ? `rule ${rule.name}: ` : ""}${why.join(", ")}` };
  }
  return { target: "local", reason: "default" };
}
