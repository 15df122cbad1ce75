/** A model in the local store by its name: `name[:tag]` (tag `latest` when absent). */
import type { ModelSource } from "../model-source.js";
import { findInStore, storeNames } from "../model-store.js";
import { namesMatch, parseNameRef, type NameRef } from "./name-ref.js";

export const storeNameSource: ModelSource<NameRef> = {
  kind: "store",
  parse: parseNameRef,
  recognizes(ref, config) {
    return namesMatch(ref, storeNames(config));
  },
  async resolve(ref, config) {
    return findInStore(ref, config);
  },
  names: storeNames,
};
