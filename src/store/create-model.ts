/**
 * Makes a new store entry the way Ollama's /api/create does: from another
 * entry (the same blobs under a new name), or from a GGUF file on this machine
 * (an uploaded blob, a served model's file), with request defaults (SYSTEM,
 * TEMPLATE, PARAMETER) in its manifest, optionally quantized by edgelm's
 * quantizer on the way (signed with trust.local_key when one is set), and with
 * LoRA adapters applied to every request (Ollama's ADAPTER: adapter entries of
 * the model's file, listed in its manifest; a model made from an entry keeps
 * that entry's adapters). An entry of the same name is replaced, as Ollama does.
 */
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import type { ProgressReporter } from "../progress.js";
import type { AppliedAdapter, ManifestSettings } from "./manifest.js";
import { formatStoreName, type StoreName } from "./model-ref.js";
import { ModelStore, predominantType, type StoreEntry } from "./model-store.js";
import { quantizeInStore } from "./quantize-variant.js";
import type { SourceFile } from "./model-folder.js";
import { quantTarget } from "../gguf/quant/tensor-type-plan.js";

/** What the new model is made from. */
export type CreateBase =
  | { kind: "entry"; entry: StoreEntry }
  /** A GGUF file on this machine; `from` records where it came from (null: uploaded blobs). */
  | { kind: "file"; path: string; fileName: string; from: string | null };

export interface CreateModelOptions {
  settings?: ManifestSettings;
  /** A quantization type (q8_0, q4_0, q4_k_m, ...: see `edgelm quantize --help`). */
  quantize?: string;
  /** Adapters to apply to every request, after the ones an entry base applies already (adapter entries of the base's model file). */
  adapters?: AppliedAdapter[];
  progress?: ProgressReporter;
}

/** Creates (or replaces) the entry `name` from `base`. */
export async function createModel(name: StoreName, base: CreateBase, config: Config, options: CreateModelOptions = {}): Promise<StoreEntry> {
  const store = ModelStore.open(config);
  const reference = formatStoreName(name);
  const settings = options.settings && Object.keys(options.settings).length > 0 ? options.settings : undefined;
  const from = base.kind === "entry" ? base.entry.reference : base.from;
  const added = options.adapters ?? [];
  if (from === reference && options.quantize === undefined && base.kind === "entry" && !settings && added.length === 0) return base.entry;
  const adapters = [...(base.kind === "entry" ? (base.entry.manifest.adapters ?? []) : []), ...added];
  const facts = { name, source: { type: "created" as const, from }, variantOf: null, force: true, ...(settings ? { settings } : {}), ...(adapters.length > 0 ? { adapters } : {}) };
  if (options.quantize !== undefined && adapters.length > 0) {
    // An adapter records the SHA-256 of the file it was made for: a quantized copy is another file.
    throw new EdgeError("unsupported", `adapters: a model with LoRA adapters cannot be quantized on the way (the adapters fit ${from ?? "the base"}'s file, not a quantized copy); quantize the base first, then create the model with its adapters`, { param: "adapters" });
  }
  if (options.quantize !== undefined) {
    const target = quantTarget(options.quantize);
    const sourcePath = base.kind === "entry" ? base.entry.model.path : base.path;
    const label = `quantizing ${reference} to ${target.name}`;
    return quantizeInStore(sourcePath, store, config, {
      target,
      onProgress: (done, total) => options.progress?.({ label, done, total }),
    }, async (quantized) => {
      options.progress?.({ label, done: 1, total: 1, finished: true });
      if (base.kind === "entry" && base.entry.reference !== reference) {
        return store.addVariant(base.entry.reference, quantized.model, {
          name: name.name,
          tag: name.tag,
          move: true,
          force: true,
          source: facts.source,
          ...(quantized.signature ? { signature: quantized.signature } : {}),
          ...(settings ? { settings } : {}),
        });
      }
      const files: SourceFile[] = [{ name: `${name.tag}-${target.name}.gguf`, path: quantized.model, role: "model" }];
      if (quantized.signature) files.push({ name: "model.sig", path: quantized.signature, role: "signature" });
      return (await store.addFiles(files, { ...facts, layout: "file", quantization: predominantType(quantized.model) })).entry;
    });
  }
  if (base.kind === "entry") {
    if (base.entry.reference === reference) {
      // New settings on the same files: a new manifest over the same blobs.
      return (await store.link(base.entry, { ...facts, source: base.entry.manifest.source, layout: base.entry.manifest.layout, quantization: base.entry.manifest.quantization, variantOf: base.entry.manifest.variant_of })).entry;
    }
    return (await store.link(base.entry, { ...facts, layout: base.entry.manifest.layout, quantization: base.entry.manifest.quantization })).entry;
  }
  let quantization: string;
  try {
    quantization = predominantType(base.path);
  } catch (error) {
    throw new EdgeError("invalid_gguf", `${base.fileName} is not a usable GGUF file: ${(error as Error).message}`, { param: "files" });
  }
  return (await store.addFiles([{ name: base.fileName, path: base.path, role: "model" }], { ...facts, layout: "file", quantization })).entry;
}
