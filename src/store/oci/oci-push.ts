/**
 * `edgelm push <store-name> oci://…`: a store entry as a model artifact in a
 * registry, in ModelPack (default) or Docker Model Runner format. Each blob
 * is checked with HEAD first (an update that changes one file uploads one
 * file), mounted from another repository of the registry when one is known
 * to hold it, else uploaded (one PUT, or PATCH chunks above
 * `store.oci.chunk_bytes`). The entry is verified first (as on every load:
 * the verified-hash cache, or a re-hash), so a damaged store never publishes. The entry's model.sig follows as a referrer.
 */
import { readFileSync } from "node:fs";
import type { Config } from "../../config/schema.js";
import { EdgeError } from "../../errors.js";
import { readGguf } from "../../gguf/gguf-reader.js";
import { summarizeGguf } from "../../gguf/gguf-summary.js";
import { verifyModel } from "../../trust/verify-model.js";
import { ModelStore, resolvedFromEntry } from "../model-store.js";
import type { ProgressReporter } from "../../progress.js";
import { writeArtifact, type WritableFormat } from "./artifact-formats.js";
import { uploadBlob, type UploadOutcome } from "./blob-upload.js";
import { formatOciRef, type OciRef } from "./oci-ref.js";
import { RegistryClient, sha256Digest } from "./registry-client.js";
import { pushSignature } from "./signature-referrer.js";

export interface OciPushOptions {
  /** Artifact format (default `modelpack`). */
  format?: WritableFormat;
  /** Repositories of the same registry to mount blobs from (besides the entry's own source repository). */
  mountFrom?: readonly string[];
  /** Told how the upload progresses; quiet when absent. */
  progress?: ProgressReporter;
  /**
   * The release this push is (e.g. "1.4.2"): written as the manifest's
   * `org.opencontainers.image.version`, which gateways following the tag report
   * as the version they serve (instead of `sha256-<12 hex>`).
   */
  version?: string;
}

export interface OciPushResult {
  /** `oci://host/repo:tag@sha256:…` of what was pushed. */
  reference: string;
  digest: string;
  format: WritableFormat;
  /** Blob bytes sent in this push (layers and config; skipped and mounted blobs count 0). */
  bytesUploaded: number;
  blobs: Record<UploadOutcome, number>;
  /** The signature referrer's manifest digest, when the entry has a model.sig. */
  signature: string | undefined;
}

/**
 * Pushes the entry `name` to `ref` (which must carry a tag, or a digest only
 * when that is the digest the push produces).
 */
export async function pushOciModel(name: string, ref: OciRef, config: Config, options: OciPushOptions = {}): Promise<OciPushResult> {
  const format = options.format ?? "modelpack";
  const entry = ModelStore.open(config).require(name);
  if (!ref.tag) throw new EdgeError("usage", `push needs a tag to publish under: ${formatOciRef(ref)} has none (e.g. oci://host/repo:1)`, { param: "ref" });
  const client = new RegistryClient(ref.registry, config);
  const repo = ref.repository;
  const content = entry.files.filter((f) => f.role !== "signature");
  await verifyModel(resolvedFromEntry(entry), config, options.progress ? { progress: options.progress } : {}); // a damaged store never publishes
  const summary = summarizeGguf(readGguf(entry.model.path));
  const written = writeArtifact(
    format,
    content.map((f) => ({ name: f.name, role: f.role, digest: `sha256:${f.sha256}`, size: f.size })),
    { name: entry.name, version: entry.tag, architecture: summary.architecture, quantization: entry.manifest.quantization, layout: entry.manifest.layout, created: entry.manifest.created, ...(options.version !== undefined ? { release: options.version } : {}) },
  );
  const source = entry.manifest.source;
  const mountFrom = [
    ...(options.mountFrom ?? []),
    ...(source.type === "oci" && source.ref.startsWith(`oci://${ref.registry}/`) ? [source.ref.slice(`oci://${ref.registry}/`.length).split(/[:@]/)[0]!] : []),
  ];
  const blobs: Record<UploadOutcome, number> = { exists: 0, mounted: 0, uploaded: 0 };
  let bytesUploaded = 0;
  const total = content.reduce((sum, f) => sum + f.size, 0) + written.config.bytes.length;
  const label = `pushing ${entry.reference}`;
  const report = (done: number, finished = false): void => options.progress?.({ label, done, total, ...(finished ? { finished } : {}) });
  let done = 0;
  const chunkBytes = config.store.oci.chunk_bytes;
  try {
    for (const file of content) {
      const outcome = await uploadBlob(client, repo, { digest: `sha256:${file.sha256}`, size: file.size, path: file.path }, {
        chunkBytes,
        mountFrom,
        onBytes: (sent) => report(done + sent),
      });
      blobs[outcome]++;
      if (outcome === "uploaded") bytesUploaded += file.size;
      done += file.size;
      report(done);
    }
    const cfg = written.config;
    const outcome = await uploadBlob(client, repo, { digest: cfg.digest, size: cfg.bytes.length, bytes: cfg.bytes }, { chunkBytes, mountFrom });
    blobs[outcome]++;
    if (outcome === "uploaded") bytesUploaded += cfg.bytes.length;
    done = total;
  } finally {
    report(done, true);
  }
  if (ref.digest) {
    const expected = sha256Digest(written.manifest);
    if (expected !== ref.digest) throw new EdgeError("usage", `${formatOciRef(ref)} pins ${ref.digest}, but this push produces ${expected}; drop the @digest`, { param: "ref" });
  }
  const { digest } = await client.putManifest(repo, ref.tag, written.manifest, written.mediaType);
  const signature = entry.signature
    ? await pushSignature(client, repo, { mediaType: written.mediaType, digest, size: written.manifest.length }, readFileSync(entry.signature.path), chunkBytes)
    : undefined;
  return { reference: formatOciRef({ ...ref, digest }), digest, format, bytesUploaded, blobs, signature };
}
