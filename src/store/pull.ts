/** Downloads models into the store: hf: references and catalog entries. */
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import type { CatalogEntry } from "./catalog.js";
import type { ModelRef } from "./model-ref.js";
import type { ResolvedModel, ResolveOptions } from "./resolve-model.js";

export async function fetchHfModel(
  ref: Extract<ModelRef, { kind: "hf" }>,
  _config: Config,
  _options: ResolveOptions,
): Promise<ResolvedModel> {
  throw new EdgeError("unsupported", `cannot fetch hf:${ref.owner}/${ref.repo}/${ref.file} yet`);
}

export async function pullCatalogModel(entry: CatalogEntry, _config: Config, _options: ResolveOptions): Promise<ResolvedModel> {
  throw new EdgeError("unsupported", `cannot pull ${entry.name} yet`);
}
