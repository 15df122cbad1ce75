/**
 * Finds a model's lower-precision variants: store entries linked by
 * `variant_of` (a variant of a variant belongs to the same family), ranked by
 * bits per weight, nearest below the model now served first. A bare path that
 * is no store entry has no variants.
 */
import { ggmlTypeByName } from "../gguf/ggml-types.js";
import type { ModelStore } from "../store/model-store.js";
import type { ModelVariant, VariantFinder } from "./policy-target.js";

/** What the ladder needs to know of a store entry. */
export interface VariantEntry {
  /** `name:tag`. */
  reference: string;
  /** The model file on disk. */
  path: string;
  /** Predominant tensor type, e.g. "Q8_0"; null when unknown. */
  quantization: string | null;
  /** `name:tag` of the entry it was made from, or null. */
  variantOf: string | null;
  sizeBytes: number;
}

function bits(quantization: string | null | undefined): number | undefined {
  return quantization ? ggmlTypeByName(quantization)?.bitsPerWeight : undefined;
}

/** `name` means `name:latest`. */
function canonical(reference: string): string {
  return reference.includes(":") ? reference : `${reference}:latest`;
}

/**
 * Lower-precision variants of the model served as `ref` (or from `path`),
 * nearest first; empty when it is not in `entries` or nothing is lower.
 */
export function lowerVariants(entries: readonly VariantEntry[], model: { ref: string; path: string; quantization: string | undefined }): ModelVariant[] {
  const byRef = new Map(entries.map((e) => [canonical(e.reference), e]));
  const current = byRef.get(canonical(model.ref)) ?? entries.find((e) => e.path === model.path);
  if (!current) return [];
  const root = (entry: VariantEntry): string => {
    const seen = new Set<string>();
    const path: string[] = [];
    let node = entry;
    while (node.variantOf && !seen.has(node.reference)) {
      seen.add(node.reference);
      path.push(canonical(node.reference));
      const parent = byRef.get(canonical(node.variantOf));
      if (!parent) return canonical(node.variantOf);
      node = parent;
    }
    // A cycle has no root: name it by its smallest member so every member agrees.
    if (node.variantOf && seen.has(node.reference)) return path.slice(path.indexOf(canonical(node.reference))).sort()[0]!;
    return canonical(node.reference);
  };
  const family = root(current);
  const currentBits = bits(model.quantization ?? current.quantization);
  if (currentBits === undefined) return [];
  return entries
    .filter((e) => e !== current && root(e) === family)
    .map((e) => ({ entry: e, bits: bits(e.quantization) }))
    .filter((c): c is { entry: VariantEntry; bits: number } => c.bits !== undefined && c.bits < currentBits)
    .sort((a, b) => b.bits - a.bits || b.entry.sizeBytes - a.entry.sizeBytes)
    .map(({ entry }) => ({ ref: entry.reference, quantization: entry.quantization!, sizeBytes: entry.sizeBytes }));
}

/** A VariantFinder over entries read fresh at each call (the store may gain variants while serving). */
export function variantFinder(list: () => readonly VariantEntry[]): VariantFinder {
  return { lowerVariants: (model) => lowerVariants(list(), model) };
}

/** The store's entries as the ladder sees them (read afresh at each call). */
export function storeVariantFinder(store: Pick<ModelStore, "list">): VariantFinder {
  return variantFinder(() =>
    store.list().map((entry) => ({
      reference: entry.reference,
      path: entry.model.path,
      quantization: entry.manifest.quantization,
      variantOf: entry.manifest.variant_of,
      sizeBytes: entry.model.size,
    })),
  );
}
