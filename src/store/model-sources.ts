/**
 * The model sources, in the order a reference is tried (see docs/models.md):
 * a name is the demo, then a store entry, then a catalog model; `pathSource`
 * comes last, since it takes any text no other kind claims. A new kind of
 * reference (e.g. `oci://`) is one module implementing ModelSource plus one
 * line here. The dispatch over them is resolve-model.ts.
 */
import type { ModelSource } from "./model-source.js";
import { catalogSource } from "./sources/catalog-source.js";
import { demoSource } from "./sources/demo-source.js";
import { hfSource } from "./sources/hf-source.js";
import { pathSource } from "./sources/path-source.js";
import { storeNameSource } from "./sources/store-name-source.js";

export const MODEL_SOURCES: readonly ModelSource[] = [
  hfSource,
  demoSource,
  storeNameSource,
  catalogSource,
  pathSource,
];
