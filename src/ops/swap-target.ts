/**
 * What `POST /admin/swap` may swap a model to: the precision of one of its
 * stored variants (`q4_0`), a model store name (`name[:tag]`), or a reference
 * this gateway already serves or was configured with. Never a path or a URL
 * from the request: the admin API must not load arbitrary files, and its
 * answer must not tell whether a path exists (everything else gets the same
 * model_not_found, decided on the text alone and the store's own entries).
 */
import { EdgeError } from "../errors.js";
import { ggmlTypeByName } from "../gguf/ggml-types.js";
import { looksLikePath, parseStoreName } from "../store/model-ref.js";
import type { VariantFinder } from "./policy-target.js";

export interface SwapTargets {
  variants: VariantFinder;
  /** Whether the model store holds `name:tag`. */
  storeHas: (name: string) => boolean;
  /** References served now or configured (server.models[].ref): an operator put them there. */
  configured: readonly string[];
}

/** A precision name such as "q4_0", not a reference. */
function isPrecision(text: string): boolean {
  return ggmlTypeByName(text) !== undefined && !text.includes(":") && !text.includes("/") && !text.toLowerCase().endsWith(".gguf");
}

/** The reference to load for `to`, or model_not_found (the same answer for every path, existing or not). */
export function swapTarget(to: string, model: { name: string; ref: string; path: string }, targets: SwapTargets): string {
  if (isPrecision(to)) {
    const wanted = ggmlTypeByName(to)!.name;
    const variants = targets.variants.variantsOf({ ref: model.ref, path: model.path });
    const match = variants.find((v) => v.quantization.toUpperCase() === wanted);
    if (match) return match.ref;
    const have = variants.map((v) => `${v.ref} (${v.quantization})`);
    throw new EdgeError("model_not_found", `model ${model.name} has no stored ${wanted} variant${have.length ? `; variants: ${have.join(", ")}` : " (it has no variants in the store)"}`, {
      param: "to",
    });
  }
  if (targets.configured.includes(to)) return to;
  if (!looksLikePath(to) && !to.includes("://") && !to.startsWith("hf:") && isStoreEntry(to, targets)) return to;
  throw new EdgeError(
    "model_not_found",
    `swap takes the precision of a stored variant (e.g. q4_0), a model store name (see edgelm list) or a reference this gateway serves or is configured with; "${to.slice(0, 200)}" is none of them`,
    { param: "to" },
  );
}

function isStoreEntry(text: string, targets: SwapTargets): boolean {
  try {
    const name = parseStoreName(text, "to");
    return targets.storeHas(`${name.name}:${name.tag}`);
  } catch {
    return false;
  }
}
