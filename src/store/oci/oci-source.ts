/**
 * The OCI model source — `oci://host[:port]/repo[:tag|@sha256:...]` — and the
 * one entry point of src/store/oci/ for the rest of edgelm: parse a
 * reference, resolve it (from the store when pulled before), pull it, push a
 * store entry to one. See docs/store.md ("OCI registries").
 */
import type { ModelSource } from "../model-source.js";
import { isOciRef, parseOciRef, type OciRef } from "./oci-ref.js";
import { pullOciModel, resolveOciModel } from "./oci-pull.js";

export { isOciRef as isOciReference, parseOciRef as parseOciReference, formatOciRef as formatOciReference, type OciRef } from "./oci-ref.js";
export { pullOciModel as pullOci, resolveOciModel as resolveOci, type OciPullOptions, type OciPullResult } from "./oci-pull.js";
export { pushOciModel as pushOci, type OciPushOptions, type OciPushResult } from "./oci-push.js";
export { WRITABLE_FORMATS as OCI_PUSH_FORMATS, type WritableFormat as OciPushFormat } from "./artifact-formats.js";

export const ociSource: ModelSource<OciRef> = {
  kind: "oci",
  parse(text) {
    return isOciRef(text) ? parseOciRef(text) : undefined;
  },
  recognizes() {
    return true;
  },
  resolve(ref, config, options) {
    return resolveOciModel(ref, config, options); // from the store when pulled before, else pulled unless allowDownload is false
  },
  pull(ref, config, options) {
    return pullOciModel(ref, config, options);
  },
};
