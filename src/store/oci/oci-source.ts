/**
 * The OCI model source, one entry point for the rest of edgelm: parse an
 * `oci://` reference, resolve it (from the store when pulled before), pull
 * it, push a store entry to one. See docs/store.md ("OCI registries").
 */
export { isOciRef as isOciReference, parseOciRef as parseOciReference, formatOciRef as formatOciReference, type OciRef } from "./oci-ref.js";
export { pullOciModel as pullOci, resolveOciModel as resolveOci, type OciPullOptions, type OciPullResult } from "./oci-pull.js";
export { pushOciModel as pushOci, type OciPushOptions, type OciPushResult } from "./oci-push.js";
export { WRITABLE_FORMATS as OCI_PUSH_FORMATS, type WritableFormat as OciPushFormat } from "./artifact-formats.js";
