/**
 * LoRA adapters as store entries of their base (`edgelm add adapter.gguf`, `edgelm lora extract … --out name:tag`):
 * the adapter is checked against its base before it is stored (architecture, the base SHA-256 it records, factor
 * shapes), signed with trust.local_key when one is set, and its manifest names the base (`adapter_of`: name and
 * model SHA-256). Serving one checks that SHA-256 against the served model again (engine/prepare-adapters.ts).
 */
import { rm } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import type { Config } from "../config/schema.js";
import { EdgeError, toEdgeError } from "../errors.js";
import { readGguf } from "../gguf/gguf-reader.js";
import type { ManifestSource } from "../store/manifest.js";
import { DEFAULT_TAG, parseStoreName, type StoreName } from "../store/model-ref.js";
import { defaultModelName, ModelStore, type StoreEntry } from "../store/model-store.js";
import { signWithLocalKey } from "../trust/sign-with-local-key.js";
import { checkAdapterForBase, readLoraAdapter } from "./lora-adapter.js";

export interface StoreAdapterOptions {
  /** `name[:tag]` to store under; default the file's name, tag latest. */
  name?: string;
  /** The base's store name; default the store entry whose model has the SHA-256 the adapter records. */
  base?: string;
  /** Replace an entry of that name holding other files. Default false. */
  force?: boolean;
  /** Move the file into the store instead of copying it (a temp file). Default false. */
  move?: boolean;
  /** What the manifest records as its source; default `{ type: "file", path }`. */
  source?: ManifestSource;
}

export interface StoredAdapter {
  entry: StoreEntry;
  base: StoreEntry;
  /** Signed with trust.local_key. */
  signed: boolean;
}

/** The base entry an adapter belongs to: the one named, else the one whose model SHA-256 it records. */
function findBase(store: ModelStore, path: string, recorded: string | undefined, name: string | undefined): StoreEntry {
  if (name !== undefined) {
    const base = store.require(name);
    if (base.manifest.adapter_of) throw new EdgeError("usage", `--base ${name} is itself an adapter (of ${base.manifest.adapter_of.name}); give the model it adapts`, { param: "--base" });
    return base;
  }
  if (recorded === undefined) {
    throw new EdgeError("usage", `${path} does not record which model it was made for; name its base with --base <name:tag> (a store entry)`, { param: "--base" });
  }
  const base = store.list().find((e) => !e.manifest.adapter_of && e.model.sha256 === recorded);
  if (!base) {
    throw new EdgeError("model_not_found", `${path} was made for a model with SHA-256 ${recorded.slice(0, 16)}…, which is not in the store; add that model first (edgelm add), or name the base with --base`, {
      param: "--base",
      details: { base_sha256: recorded },
    });
  }
  return base;
}

/** The model file an adapter is stored for: the name its entry will record (`name:tag`), the file and its SHA-256. */
export interface AdapterBase {
  name: string;
  path: string;
  sha256: string;
}

/**
 * Checks that the adapter at `path` fits `base` (a LoRA adapter, the base SHA-256 it records if any, architecture and
 * factor shapes), without hashing the base again. Errors: invalid_gguf, integrity_mismatch, unsupported_model.
 */
export async function checkAdapterFits(path: string, base: AdapterBase): Promise<void> {
  const adapter = readLoraAdapter(path);
  if (adapter.baseSha256 !== undefined && adapter.baseSha256 !== base.sha256) {
    throw new EdgeError("integrity_mismatch", `${path} was made for a base with SHA-256 ${adapter.baseSha256.slice(0, 16)}…, not ${base.name} (${base.sha256.slice(0, 16)}…)`, {
      details: { expected: adapter.baseSha256, actual: base.sha256 },
    });
  }
  await checkAdapterForBase(adapter, readGguf(base.path), base.path, path, base.sha256);
}

/**
 * Stores the adapter at `path` as an entry of its base. Errors: invalid_gguf (not a LoRA adapter), usage / model_not_found
 * (no base given or found), integrity_mismatch (it records another base), unsupported_model (it does not fit the
 * base's shapes or architecture), model_exists (the name is taken by other files, without `force`).
 */
export async function storeAdapter(path: string, config: Config, options: StoreAdapterOptions = {}): Promise<StoredAdapter> {
  const adapter = readLoraAdapter(path);
  const store = ModelStore.open(config);
  const base = findBase(store, path, adapter.baseSha256, options.base);
  const name = options.name !== undefined ? parseStoreName(options.name, "--name") : { name: defaultModelName(path), tag: DEFAULT_TAG };
  const stored = await storeAdapterFor(path, { name: base.reference, path: base.model.path, sha256: base.model.sha256 }, config, { ...options, name });
  return { ...stored, base };
}

/**
 * Stores the adapter at `path` as the entry `options.name` of the model file `base` (checked with checkAdapterFits
 * first), signed with trust.local_key when one is set. The base need not be a store entry yet (Ollama's /api/create
 * stores a model's adapters before the model). Errors: those of checkAdapterFits, model_exists.
 */
export async function storeAdapterFor(
  path: string,
  base: AdapterBase,
  config: Config,
  options: { name: StoreName; force?: boolean; move?: boolean; source?: ManifestSource },
): Promise<{ entry: StoreEntry; signed: boolean }> {
  await checkAdapterFits(path, base);
  const store = ModelStore.open(config);
  await mkdir(store.paths.tmp, { recursive: true }).catch((error: unknown) => {
    throw toEdgeError(error, `cannot write into the store at ${store.paths.tmp}`);
  });
  const signatureTemp = store.tempPath();
  try {
    const signed = await signWithLocalKey(path, config, signatureTemp);
    const entry = await store.addAdapter(path, {
      name: options.name.name,
      tag: options.name.tag,
      base: { name: base.name, sha256: base.sha256 },
      ...(signed ? { signature: signatureTemp } : {}),
      ...(options.move ? { move: true } : {}),
      ...(options.force ? { force: true } : {}),
      ...(options.source ? { source: options.source } : {}),
    });
    return { entry, signed };
  } finally {
    await rm(signatureTemp, { force: true }).catch(() => {});
  }
}

/** The adapter entry `ref` names; a model entry is unsupported (it is no adapter), an unknown name model_not_found. */
export function requireStoreAdapter(config: Config, ref: string): StoreEntry {
  const entry = ModelStore.open(config).require(ref);
  if (!entry.manifest.adapter_of) throw new EdgeError("unsupported_model", `${entry.reference} is a model, not a LoRA adapter (its manifest names no base)`, { param: "adapters" });
  return entry;
}
