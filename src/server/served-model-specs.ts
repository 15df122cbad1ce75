/**
 * Which models a gateway serves, from `--model` flags or `server.models`:
 * names default to the reference's own name; without any model, the built-in
 * demo model. References are resolved here (never downloaded) so a typo stops
 * `edgelm serve` at once with a clear error; verification happens per load.
 */
import { resolve as resolvePath } from "node:path";
import { readFileSync, statSync } from "node:fs";
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import { requireStoreAdapter } from "../adapt/store-adapter.js";
import type { AdapterSpec } from "../engine/prepare-adapters.js";
import type { ServedModelSpec } from "../scheduler/model-pool.js";
import { DEMO_MODEL_NAME } from "../demo/demo-model.js";
import { readFollowedState } from "../store/followed-versions.js";
import { resolveModel } from "../store/resolve-model.js";

/** The reference a `server.models` entry serves: its `ref`, else the version its `follow` took last. */
function entryRef(config: Config, entry: { name?: string | undefined; ref?: string | undefined; follow?: string | undefined }): string {
  if (entry.ref !== undefined) return entry.ref;
  const name = entry.name ?? "";
  const current = readFollowedState(config, name, entry.follow!).current;
  if (!current) {
    throw new EdgeError("model_not_found", `model ${name} follows ${entry.follow} but no version of it was pulled yet (edgelm serve pulls the first one at start)`, { param: "follow" });
  }
  return current.ref;
}

/** Longest warm prefix read from a file, in bytes (as for `text`). */
const MAX_WARM_PREFIX_BYTES = 256 * 1024;

/** A warm prefix's text: given inline, or read (UTF-8, at most 256 KiB) from its file. */
function warmPrefixText(entry: { text: string } | { file: string }, field: string): string {
  if ("text" in entry) return entry.text;
  let size: number;
  try {
    size = statSync(entry.file).size;
  } catch (error) {
    throw new EdgeError("usage", `${field}.file: cannot read ${entry.file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { param: "warm_prefixes" });
  }
  if (size > MAX_WARM_PREFIX_BYTES) throw new EdgeError("usage", `${field}.file: ${entry.file} is ${size} bytes; a warm prefix holds at most ${MAX_WARM_PREFIX_BYTES}`, { param: "warm_prefixes" });
  const text = readFileSync(entry.file, "utf8");
  if (text.trim().length === 0) throw new EdgeError("usage", `${field}.file: ${entry.file} is empty`, { param: "warm_prefixes" });
  return text;
}

/**
 * One `server.models[].adapters` entry as the pool takes it: a path made absolute, or a store name checked to be an
 * adapter entry now (so a typo stops `edgelm serve` at once; it is verified again on every load), named after its
 * store name when no name is given.
 */
export function adapterSpec(entry: { name?: string | undefined; path?: string | undefined; ref?: string | undefined; scale?: number | undefined }, model: string, config: Config): AdapterSpec {
  const scale = entry.scale !== undefined ? { scale: entry.scale } : {};
  if (entry.path !== undefined) return { name: entry.name!, path: resolvePath(entry.path), ...scale };
  const stored = requireStoreAdapter(config, entry.ref!);
  const name = entry.name ?? stored.name;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new EdgeError("usage", `${model}: adapter ${stored.reference} needs a name requests can use (letters, digits and . _ -); give server.models[].adapters[].name`, { param: "adapters" });
  }
  return { name, ref: stored.reference, ...scale };
}

/** A `--model` value: `ref` or `name=ref`. */
export function parseModelFlag(text: string): { name?: string; ref: string } {
  const match = /^([A-Za-z0-9][A-Za-z0-9._:-]*)=(.+)$/.exec(text.trim());
  if (match && !match[1]!.toLowerCase().endsWith(".gguf")) return { name: match[1]!, ref: match[2]!.trim() };
  return { ref: text.trim() };
}

export interface ServedModelsPlan {
  specs: ServedModelSpec[];
  /** True when nothing was configured and the demo model is served. */
  demo: boolean;
}

/** The served models, with defaults from the `server` and `engine` sections filled in. */
export async function planServedModels(config: Config): Promise<ServedModelsPlan> {
  const entries = config.server.models.length > 0 ? config.server.models : [{ name: DEMO_MODEL_NAME, ref: DEMO_MODEL_NAME }];
  const specs: ServedModelSpec[] = [];
  for (const entry of entries) {
    if (entry.follow !== undefined && entry.name === undefined) {
      throw new EdgeError("usage", `a model that follows ${entry.follow} needs a name (server.models[].name): its versions come and go, the name stays`, { param: "name" });
    }
    const ref = entryRef(config, entry);
    const name = entry.name ?? (await resolveModel(ref, config, { allowDownload: false })).name;
    if (entry.name !== undefined) await resolveModel(ref, config, { allowDownload: false });
    if (specs.some((s) => s.name.toLowerCase() === name.toLowerCase())) {
      throw new EdgeError("usage", `two models would be served as "${name}"; name them apart with --model <name>=<ref>`, { param: "model" });
    }
    const adapters = (entry.adapters ?? []).map((a) => adapterSpec(a, name, config));
    const adapterNames = adapters.map((a) => a.name);
    const repeated = adapterNames.find((n, i) => adapterNames.indexOf(n) !== i);
    if (repeated !== undefined) throw new EdgeError("usage", `${name} lists the adapter "${repeated}" twice (server.models[].adapters)`, { param: "adapters" });
    const contextSize = entry.context_size ?? config.engine.context_size;
    const threads = entry.threads ?? config.engine.threads;
    specs.push({
      name,
      ref,
      ...(entry.follow !== undefined ? { follow: entry.follow } : {}),
      parallel: entry.parallel ?? config.server.parallel,
      runners: entry.runners ?? config.server.runners,
      ...(contextSize !== undefined ? { contextSize } : {}),
      ...(threads ? { threads } : {}),
      ...(adapters.length > 0 ? { adapters } : {}),
      ...(entry.warm_prefixes ? { warmPrefixes: entry.warm_prefixes.map((w, i) => warmPrefixText(w, `server.models[${specs.length}].warm_prefixes[${i}]`)) } : {}),
    });
  }
  return { specs, demo: config.server.models.length === 0 };
}
