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

/** The other members of the model's family (linked by variant_of), or empty when `model` is no store entry. */
function familyOf(entries: readonly VariantEntry[], model: { ref: string; path: string }): { current: VariantEntry; others: VariantEntry[] } | undefined {
  const byRef = new Map(entries.map((e) => [canonical(e.reference), e]));
  const current = byRef.get(canonical(model.ref)) ?? entries.find((e) => e.path === model.path);
  if (!current) return undefined;
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
  return { current, others: entries.filter((e) => e !== current && root(e) === family) };
}

const asVariant = (entry: VariantEntry): ModelVariant => ({ ref: entry.reference, quantization: entry.quantization ?? "unknown", sizeBytes: entry.sizeBytes });

/**
 * Lower-precision variants of the model served as `ref` (or from `path`),
 * nearest first; empty when it is not in `entries` or nothing is lower.
 */
export function lowerVariants(entries: readonly VariantEntry[], model: { ref: string; path: string; quantization: string | undefined }): ModelVariant[] {
  const family = familyOf(entries, model);
  if (!family) return [];
  const currentBits = bits(model.quantization ?? family.current.quantization);
  if (currentBits === undefined) return [];
  return family.others
    .map((e) => ({ entry: e, bits: bits(e.quantization) }))
    .filter((c): c is { entry: VariantEntry; bits: number } => c.bits !== undefined && c.bits < currentBits)
    .sort((a, b) => b.bits - a.bits || b.entry.sizeBytes - a.entry.sizeBytes)
    .map(({ entry }) => asVariant(entry));
}

/** Every other variant of the model (any precision), highest precision first. */
export function familyVariants(entries: readonly VariantEntry[], model: { ref: string; path: string }): ModelVariant[] {
  const family = familyOf(entries, model);
  if (!family) return [];
  return family.others.sort((a, b) => (bits(b.quantization) ?? 0) - (bits(a.quantization) ?? 0)).map(asVariant);
}

/** A VariantFinder over entries read fresh at each call (the store may gain variants while serving). */
export function variantFinder(list: () => readonly VariantEntry[]): VariantFinder {
  return {
    lowerVariants: (model) => lowerVariants(list(), model),
    variantsOf: (model) => familyVariants(list(), model),
  };
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
