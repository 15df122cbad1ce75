/**
 * The built-in catalog: short names for public GGUF files of real edge SLMs,
 * Ollama-style `name:tag`, where the tag picks size and quantization.
 */
import type { ModelRef } from "./model-ref.js";

export interface CatalogEntry {
  /** Full name with tag, e.g. "smollm2:360m-q8_0". */
  name: string;
  /** hf: location of the file. */
  owner: string;
  repo: string;
  file: string;
  revision: string;
  /** Download size in bytes (approximate; the server's size is authoritative). */
  sizeBytes: number;
  quantization: string;
  parameters: string;
}

/** Entries; the first entry of each name:size is its default tag. */
export const CATALOG: readonly CatalogEntry[] = [];

/** Aliases: `name` and `name:size` point at a default full tag. */
function aliases(): Map<string, CatalogEntry> {
  const map = new Map<string, CatalogEntry>();
  for (const entry of CATALOG) {
    map.set(entry.name, entry);
    const [base, tag] = entry.name.split(":") as [string, string];
    const size = tag.split("-")[0]!;
    if (!map.has(`${base}:${size}`)) map.set(`${base}:${size}`, entry);
    if (!map.has(base)) map.set(base, entry);
  }
  return map;
}

export function catalogNames(): string[] {
  return [...aliases().keys()];
}

export function findInCatalog(ref: Extract<ModelRef, { kind: "name" }>): CatalogEntry | undefined {
  return aliases().get(ref.tag ? `${ref.name}:${ref.tag}` : ref.name);
}
