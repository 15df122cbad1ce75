/**
 * Adapter entries a model made by Ollama's /api/create applied, removed once no model applies them any more (the
 * model was deleted or created again with other adapters). Only the names given are candidates: adapters added with
 * `edgelm add` or `lora extract` and never applied by a created model stay.
 */
import { logger } from "../log.js";
import type { ModelStore } from "./model-store.js";

/** Removes each adapter entry of `names` that no model's manifest lists in `adapters`. Returns those removed, with the bytes freed. */
export async function removeUnusedAdapters(store: ModelStore, names: readonly string[]): Promise<Array<{ reference: string; freedBytes: number }>> {
  if (names.length === 0) return [];
  const entries = store.list();
  const used = new Set(entries.flatMap((e) => (e.manifest.adapters ?? []).map((a) => a.name)));
  const removed: Array<{ reference: string; freedBytes: number }> = [];
  for (const name of new Set(names)) {
    const entry = entries.find((e) => e.reference === name);
    if (!entry || !entry.manifest.adapter_of || used.has(name)) continue;
    try {
      removed.push({ reference: name, freedBytes: (await store.remove(name)).freedBytes });
    } catch (error) {
      logger.warn(`cannot remove the unused adapter ${name}: ${(error as Error).message}`);
    }
  }
  return removed;
}
