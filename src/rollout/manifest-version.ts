import { VERSION_ANNOTATION } from "../store/oci/media-types.js";

/** The version a manifest names: its `org.opencontainers.image.version` annotation, else `sha256-<12 hex>` of its digest. */

export function versionOf(manifest: Buffer, digest: string): string {
  try {
    const annotations = (JSON.parse(manifest.toString("utf8")) as { annotations?: Record<string, string> }).annotations;
    const version = annotations?.[VERSION_ANNOTATION];
    if (typeof version === "string" && version.length > 0) return version;
  } catch {
    // the pull checks that it parses; a version is only a label
  }
  return `sha256-${digest.slice(7, 19)}`;
}
