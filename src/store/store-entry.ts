/**
 * What the store hands out and takes in: an entry as read from its manifest
 * (files with their blob paths), the options of the ways in (add, variant),
 * and the facts a new manifest records besides its files.
 */
import { basename } from "node:path";
import { readGguf } from "../gguf/gguf-reader.js";
import { summarizeGguf } from "../gguf/gguf-summary.js";
import type { AdapterOf, AppliedAdapter, FederatedRecord, Manifest, ManifestFile, ManifestSource, TrainingRecord } from "./manifest.js";
import type { StoreName } from "./model-ref.js";

/** A manifest file with the path of its blob on this machine. */
export interface StoreFile extends ManifestFile {
  path: string;
}

/** One model in the store, as read from its manifest. */
export interface StoreEntry {
  /** `name:tag`. */
  reference: string;
  name: string;
  tag: string;
  manifest: Manifest;
  manifestPath: string;
  files: StoreFile[];
  /** The GGUF to load: the model, or for an adapter entry (`manifest.adapter_of`) the adapter. */
  model: StoreFile;
  /** The entry's `model.sig`, when it has one. */
  signature: StoreFile | undefined;
  /** Bytes of all files together. */
  size: number;
}

export interface AddOptions {
  /** `name[:tag]` to store under (default: the file or folder name, tag `latest`). */
  name?: string;
  /** A `model.sig` to keep with a single-file model (a folder brings its own). */
  signature?: string;
  /** Replace an entry of the same name that holds other files (default false). */
  force?: boolean;
}

export interface VariantOptions {
  /** Name of the new entry (e.g. the source's name). */
  name: string;
  /** Tag of the new entry (e.g. "360m-q4_0"). */
  tag: string;
  /** Predominant tensor type; default: read from the file. */
  quantization?: string;
  /** What made it, for the record (e.g. "edgelm quantize"). */
  tool?: string;
  /** A model.sig for the variant (e.g. signed with the device key). */
  signature?: string;
  /** Move the file into the store instead of copying it (same filesystem; falls back to a copy). Default false. */
  move?: boolean;
  /** Replace an existing entry of that name (default false). */
  force?: boolean;
  /** Request defaults the variant carries (Ollama's Modelfile settings). */
  settings?: Manifest["settings"];
  /** Where it came from, when not `variant` of the source (e.g. made by /api/create). */
  source?: ManifestSource;
}

export interface AddResult {
  entry: StoreEntry;
  /** False when an entry with the same name and the same files already existed. */
  created: boolean;
}

/** What a new manifest says besides its files. */
export interface EntryFacts {
  name: StoreName;
  layout: Manifest["layout"];
  source: ManifestSource;
  quantization: string | null;
  variantOf: string | null;
  force?: boolean;
  /** Request defaults the entry carries (Ollama's Modelfile settings). */
  settings?: Manifest["settings"];
  /** A fine-tuned version: the entry it was trained from, and how. */
  fineTuned?: { from: string; training?: TrainingRecord; federated?: FederatedRecord };
  /** A LoRA adapter entry: its base (the entry's one file has the role `adapter`). */
  adapterOf?: AdapterOf;
  /** A model entry's adapters, applied to every request (Ollama's ADAPTER). */
  adapters?: AppliedAdapter[];
}

export interface AdapterOptions {
  /** Name and tag of the new entry. */
  name: string;
  tag: string;
  /** The base: `name:tag` of its store entry and its model file's SHA-256. */
  base: AdapterOf;
  /** A model.sig for the adapter (e.g. signed with the device key). */
  signature?: string;
  /** Move the file into the store instead of copying it. Default false. */
  move?: boolean;
  /** Replace an existing entry of that name. Default false. */
  force?: boolean;
  /** Where it came from; default `{ type: "file", path }`. */
  source?: ManifestSource;
}

/** A readable file name for a model made from a path: lower case, only name characters. */
export function defaultModelName(path: string): string {
  const stem = basename(path).replace(/\.gguf$/i, "").toLowerCase();
  const cleaned = stem.replace(/[^a-z0-9._-]+/g, "-").replace(/^[^a-z0-9]+/, "").replace(/-+$/, "");
  return cleaned.length > 0 ? cleaned.slice(0, 100) : "model";
}

export function predominantType(path: string): string {
  return summarizeGguf(readGguf(path)).predominantType;
}
