/**
 * The LoRA adapters of an Ollama /api/create (`adapters`: file name → uploaded blob digest, or Modelfile lines
 * `ADAPTER @sha256:<hex>`). Each is checked before anything is written — the blob was uploaded, it is a GGUF LoRA
 * adapter (general.type adapter, adapter.type lora), and it fits the base (the base SHA-256 it records, architecture,
 * factor shapes: adapt/store-adapter.ts's checkAdapterFits, the check `--lora` uses) — then stored as an adapter entry
 * of the new model's file, named `<model>-adapter-<first 12 hex of its SHA-256>` with the model's tag. The new
 * model's manifest lists those entries; every load of it applies them to every request.
 */
import { checkAdapterFits, storeAdapterFor, type AdapterBase } from "../adapt/store-adapter.js";
import type { Config } from "../config/schema.js";
import { EdgeError, isEdgeError } from "../errors.js";
import type { AppliedAdapter } from "../store/manifest.js";
import { formatStoreName, parseStoreName, type StoreName } from "../store/model-ref.js";
import type { ModelStore } from "../store/model-store.js";
import type { UploadedBlobs } from "../store/uploaded-blobs.js";

/** The most adapters one created model may apply (as many as a served model may select). */
export const MAX_CREATE_ADAPTERS = 16;

/** One adapter a create request names: its file name (the `adapters` key, or the Modelfile's digest) and blob. */
export interface CreateAdapter {
  fileName: string;
  /** SHA-256 (hex) of the uploaded blob. */
  blob: string;
}

/** An adapter that passed the checks: where its bytes are and the entry it will be stored as. */
export interface CheckedAdapter extends CreateAdapter {
  path: string;
  entry: StoreName;
}

/** The model file the adapters must fit, named as the request named it (`from`, or the uploaded file). */
export interface CreateBaseFile {
  label: string;
  path: string;
  sha256: string;
}

function refusal(adapter: CreateAdapter, reason: string, message: string): EdgeError {
  // Messages that begin with the file's name already say which adapter they are about.
  const text = message.startsWith(`${adapter.fileName} `) ? message : `${adapter.fileName}: ${message}`;
  return new EdgeError("invalid_request", `adapters: ${text}`, {
    param: "adapters",
    details: { reason, file: adapter.fileName, digest: `sha256:${adapter.blob}` },
  });
}

/** Why checkAdapterFits refused, as a create refusal (paths on this machine replaced by the names the request used). */
function fitRefusal(adapter: CreateAdapter, path: string, base: CreateBaseFile, error: unknown): EdgeError {
  if (!isEdgeError(error)) throw error;
  const message = error.message.split(path).join(adapter.fileName).split(base.path).join(base.label);
  if (error.code === "invalid_gguf") return refusal(adapter, "not_an_adapter", `${message} (a GGUF LoRA adapter is needed)`);
  if (error.code === "integrity_mismatch") return refusal(adapter, "wrong_base", `${message}: create the model from the model it was made for`);
  if (error.code === "unsupported_model") return refusal(adapter, "shape_mismatch", message);
  return error;
}

/** Checks every adapter of a create request against `base`; nothing is written. Refusals are 400s naming `adapters`. */
export async function checkCreateAdapters(
  adapters: readonly CreateAdapter[],
  base: CreateBaseFile,
  target: StoreName,
  store: ModelStore,
  uploads: UploadedBlobs,
): Promise<CheckedAdapter[]> {
  if (adapters.length > MAX_CREATE_ADAPTERS) {
    throw new EdgeError("invalid_request", `adapters: ${adapters.length} adapters given; a model applies at most ${MAX_CREATE_ADAPTERS}`, { param: "adapters" });
  }
  const checked: CheckedAdapter[] = [];
  for (const adapter of adapters) {
    if (checked.some((c) => c.blob === adapter.blob)) throw refusal(adapter, "duplicate", `sha256:${adapter.blob} is listed twice`);
    const path = await uploads.locate(adapter.blob);
    if (!path) throw refusal(adapter, "missing_blob", `blob sha256:${adapter.blob} has not been uploaded; POST it to /api/blobs/sha256:${adapter.blob} first`);
    try {
      await checkAdapterFits(path, { name: base.label, path: base.path, sha256: base.sha256 });
    } catch (error) {
      throw fitRefusal(adapter, path, base, error);
    }
    const entry = parseStoreName(`${target.name}-adapter-${adapter.blob.slice(0, 12)}:${target.tag}`, "adapters");
    const taken = store.get(entry);
    if (taken && !taken.manifest.adapter_of) {
      throw refusal(adapter, "name_taken", `its entry would be ${formatStoreName(entry)}, and the store holds a model of that name; remove it or choose another model name`);
    }
    checked.push({ ...adapter, path, entry });
  }
  return checked;
}

/** Stores checked adapters as adapter entries of `base` (the new model's name and file); returns what its manifest lists. */
export async function storeCreateAdapters(checked: readonly CheckedAdapter[], base: AdapterBase, config: Config, uploads: UploadedBlobs): Promise<AppliedAdapter[]> {
  const applied: AppliedAdapter[] = [];
  for (const adapter of checked) {
    const { entry } = await storeAdapterFor(adapter.path, base, config, { name: adapter.entry, force: true, source: { type: "created", from: null } });
    await uploads.release(adapter.blob);
    applied.push({ name: entry.reference, sha256: entry.model.sha256, scale: 1 });
  }
  return applied;
}
