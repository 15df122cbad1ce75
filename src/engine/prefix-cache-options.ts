/**
 * What a runner gets of config `engine.prefix_cache` and a served model's
 * warm prefixes: nothing when the cache is off or no prefix is given, else the
 * prompts, the folder their saved states persist in ($EDGELM_HOME/prefix-cache)
 * and the model file's hash those states are kept under.
 */
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import type { PrefixCacheOptions } from "./types.js";

export function prefixCacheOptions(config: Pick<Config, "engine" | "home">, warmPrefixes: readonly string[] | undefined, modelSha256: string | undefined): { prefixCache?: PrefixCacheOptions } {
  const section = config.engine.prefix_cache;
  const given = warmPrefixes ?? [];
  // Learning needs somewhere to keep what it learns: the model's hash.
  const learns = section.learn_after > 0 && modelSha256 !== undefined;
  if (!section.enabled || (given.length === 0 && !learns)) return {};
  return {
    prefixCache: {
      // At most engine.prefix_cache.max_prefixes, the first ones given.
      warmPrefixes: given.slice(0, section.max_prefixes),
      dir: join(config.home, "prefix-cache"),
      ...(modelSha256 ? { modelSha256 } : {}),
      maxDiskBytes: section.max_disk_mb * 1024 * 1024,
      learnAfter: learns ? section.learn_after : 0,
      maxPrefixes: section.max_prefixes,
    },
  };
}
