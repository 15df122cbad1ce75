/**
 * Turns a model reference into a file on this machine, and brings models into
 * the store, by asking the model sources (model-sources.ts, one module per
 * kind in sources/) in order. Order (see docs/models.md): nothing → the
 * built-in demo model; a path or hf: → literal; `name[:tag]` → the store, then
 * the catalog; anything else is an error with the closest suggestion.
 */
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import type { ModelSource } from "./model-source.js";
import { MODEL_SOURCES } from "./model-sources.js";
import { closestMatch, parseStoreName } from "./model-ref.js";
import { ModelStore } from "./model-store.js";
import type { PullOptions, PullResult } from "./pull.js";
import type { ResolvedModel, ResolveOptions } from "./resolved-model.js";
import { demoModel } from "./sources/demo-source.js";

export const DEMO_NOTICE =
  "using the built-in demo model (a word-bigram toy for offline smoke tests); pull a real model with `edgelm pull <name>`";

/** The sources that claim `text`, each with its parse of it (throws `usage` for a malformed or empty reference). */
function claims(text: string, sources: readonly ModelSource[]): Array<{ source: ModelSource; ref: unknown }> {
  if (text.trim().length === 0) throw new EdgeError("usage", "the model reference is empty", { param: "model" });
  const out: Array<{ source: ModelSource; ref: unknown }> = [];
  for (const source of sources) {
    const ref = source.parse(text);
    if (ref !== undefined) out.push({ source, ref });
  }
  return out;
}

/** Names every source knows, for suggestions. */
function knownNames(config: Config, sources: readonly ModelSource[]): string[] {
  return sources.flatMap((s) => s.names?.(config) ?? []);
}

function unknownModel(text: string, config: Config, sources: readonly ModelSource[]): EdgeError {
  const full = text.trim().toLowerCase();
  const suggestion = closestMatch(full, knownNames(config, sources));
  return new EdgeError(
    "model_not_found",
    `unknown model "${full}"${suggestion ? `; did you mean "${suggestion}"?` : ""} (see \`edgelm pull --list\` and \`edgelm list\`)`,
    { param: "model", ...(suggestion ? { details: { suggestion } } : {}) },
  );
}

/**
 * Turns a model reference into a file on this machine: nothing → the built-in
 * demo model; otherwise the first source that claims the text and has the
 * model; an unknown name is model_not_found with the closest known name.
 */
export async function resolveModel(
  text: string | undefined,
  config: Config,
  options: ResolveOptions = {},
  sources: readonly ModelSource[] = MODEL_SOURCES,
): Promise<ResolvedModel> {
  if (text === undefined) return demoModel();
  for (const { source, ref } of claims(text, sources)) {
    const resolved = await source.resolve(ref, config, options);
    if (resolved) return resolved;
  }
  throw unknownModel(text, config, sources);
}

/** Does this text name a model (an existing file, an hf: reference, a known name)? Never downloads. */
export async function isModelReference(text: string, config: Config, sources: readonly ModelSource[] = MODEL_SOURCES): Promise<boolean> {
  try {
    return claims(text, sources).some(({ source, ref }) => source.recognizes(ref, config));
  } catch {
    return false;
  }
}

/**
 * `edgelm pull`: the first source claiming `text` that can bring it into the
 * store does (downloading at most once); a model already in the store is
 * returned as it is; anything else is an error naming what would work.
 */
export async function pullModel(text: string, config: Config, options: PullOptions = {}, sources: readonly ModelSource[] = MODEL_SOURCES): Promise<PullResult> {
  for (const { source, ref } of claims(text, sources)) {
    const pulled = await source.pull?.(ref, config, options);
    if (pulled) return pulled;
  }
  const resolved = await resolveModel(text, config, { allowDownload: false }, sources); // unknown: model_not_found with the closest name
  const entry = resolved.source === "store" ? ModelStore.open(config).get(parseStoreName(resolved.name, "ref")) : undefined;
  if (entry) return { entry, resolved, downloaded: false };
  throw new EdgeError("usage", `"${text}" is neither in the catalog nor in the store`, { param: "ref" });
}
