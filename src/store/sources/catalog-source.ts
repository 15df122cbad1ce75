/** A model of the built-in catalog by its name (`smollm2:360m`), pulled from its hub into the store under its catalog name. */
import { catalogNames, findInCatalog } from "../catalog.js";
import type { ModelSource } from "../model-source.js";
import { pullCatalogEntry } from "../pull.js";
import { namesMatch, parseNameRef, type NameRef } from "./name-ref.js";

export const catalogSource: ModelSource<NameRef> = {
  kind: "catalog",
  parse: parseNameRef,
  recognizes(ref) {
    return namesMatch(ref, catalogNames());
  },
  async resolve(ref, config, options) {
    const entry = findInCatalog(ref);
    // From the store when pulled before; else pulled unless allowDownload is false.
    return entry ? (await pullCatalogEntry(entry, config, options)).resolved : undefined;
  },
  async pull(ref, config, options) {
    const entry = findInCatalog(ref);
    return entry ? pullCatalogEntry(entry, config, options) : undefined;
  },
  names() {
    return catalogNames();
  },
};
