/**
 * `edgelm pull oci://…`: a model artifact from a registry into the store.
 * The manifest (an index is followed to its first model manifest) decides
 * the format; every layer is downloaded into downloads/<sha256>.partial
 * (resumed after an interruption), checked against its digest and size, the
 * model GGUF validated, the model.sig referrer fetched and the trust policy
 * applied — and only then do the files become blobs with a manifest. A
 * refused artifact leaves nothing in the store; an interrupted transfer
 * leaves only its partial file for the next attempt.
 */
import { statSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../../config/schema.js";
import { EdgeError, isEdgeError } from "../../errors.js";
import { readGguf } from "../../gguf/gguf-reader.js";
import { summarizeGguf } from "../../gguf/gguf-summary.js";
import { logger } from "../../log.js";
import { checkTrust, type TrustOutcome } from "../../trust/check-trust.js";
import { withLock } from "../lock-file.js";
import { SIGNATURE_FILE, type ManifestFile } from "../manifest.js";
import { ggufRole } from "../model-folder.js";
import { formatStoreName, type StoreName } from "../model-ref.js";
import { defaultModelName, ModelStore, resolvedFromEntry, type StagedFile, type StoreEntry } from "../model-store.js";
import type { ResolvedModel, ResolveOptions } from "../resolved-model.js";
import { planArtifact, type ArtifactFile, type ArtifactFormat } from "./artifact-formats.js";
import { downloadLayer } from "./blob-download.js";
import { DOCKER_MANIFEST_LIST, OCI_INDEX } from "./media-types.js";
import { imageIndexSchema, imageManifestSchema, parseOciJson, type ImageManifest } from "./oci-manifest.js";
import { formatOciRef, manifestReference, type OciRef } from "./oci-ref.js";
import { RegistryClient, sha256Digest } from "./registry-client.js";
import { fetchSignature } from "./signature-referrer.js";

export interface OciPullOptions extends ResolveOptions {
  /** Store under this name (default: the repository's last component and the tag). */
  name?: StoreName;
}

export interface OciPullResult {
  entry: StoreEntry;
  resolved: ResolvedModel;
  /** False when the store already held this manifest digest under the name (nothing downloaded). */
  downloaded: boolean;
  /** The manifest digest the reference resolved to. */
  digest: string;
  format: ArtifactFormat;
  /** Layer bytes fetched over the network in this pull (resumed bytes and blobs already stored not counted). */
  bytesDownloaded: number;
  trust: TrustOutcome | undefined;
}

/** The default store name of an OCI reference: `<last repository component>:<tag>` (a digest-only ref: `sha256-<12 hex>`). */
export function ociStoreName(ref: OciRef, digest: string): StoreName {
  const last = ref.repository.split("/").at(-1)!;
  const tag = ref.tag && !ref.digest ? ref.tag.toLowerCase() : `sha256-${digest.slice(7, 19)}`;
  return { name: defaultModelName(last), tag: defaultModelName(tag) };
}

/** An entry pulled from this reference before (same registry, repository, and tag or digest), if any. */
export function findPulled(config: Config, ref: OciRef): StoreEntry | undefined {
  const text = formatOciRef(ref);
  return ModelStore.open(config).findBySource((s) => s.type === "oci" && (s.ref === text || (ref.digest !== undefined && s.digest === ref.digest)));
}

/** Follows an index to the model manifest it lists (the first one that is not a referrer). */
async function modelManifest(client: RegistryClient, ref: OciRef): Promise<{ manifest: ImageManifest; digest: string; where: string }> {
  const repo = ref.repository;
  let where = formatOciRef(ref);
  let got = await client.getManifest(repo, manifestReference(ref));
  if (got.mediaType === OCI_INDEX || got.mediaType === DOCKER_MANIFEST_LIST) {
    const index = parseOciJson(imageIndexSchema, got.bytes, `the index ${where}`);
    const first = index.manifests.find((d) => d.mediaType !== OCI_INDEX && d.mediaType !== DOCKER_MANIFEST_LIST);
    if (!first) throw new EdgeError("unsupported", `unsupported artifact format at ${where}: an index that lists no manifest`);
    where = `${ref.registry}/${repo}@${first.digest}`;
    got = await client.getManifest(repo, first.digest);
  }
  return { manifest: parseOciJson(imageManifestSchema, got.bytes, `the manifest ${where}`), digest: got.digest, where };
}

function blobSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/** Decides the GGUF roles left open by the format (ModelPack names files, not roles). */
function settleRoles(files: Array<ArtifactFile & { path: string }>): void {
  for (const file of files) if (file.probe) file.role = ggufRole(file.path);
  const models = files.filter((f) => f.role === "model");
  if (models.length !== 1) {
    throw new EdgeError("unsupported", `the artifact must hold exactly one GGUF model file, found ${models.length}${models.length ? ` (${models.map((f) => f.name).join(", ")})` : ""}`);
  }
}

/**
 * Pulls an OCI reference into the store (see the module comment). A name
 * that already holds this manifest digest is returned as is, offline work
 * aside: the registry is asked which digest the tag points to.
 */
export async function pullOciModel(ref: OciRef, config: Config, options: OciPullOptions = {}): Promise<OciPullResult> {
  const store = ModelStore.open(config);
  const client = new RegistryClient(ref.registry, config);
  const repo = ref.repository;
  const { manifest, digest, where } = await modelManifest(client, ref);
  const plan = planArtifact(manifest, where);
  const target = options.name ?? ociStoreName(ref, digest);
  const label = formatStoreName(target);
  const existing = store.get(target);
  const source = existing?.manifest.source;
  if (existing && source?.type === "oci" && source.digest === digest) {
    return { entry: existing, resolved: resolvedFromEntry(existing), downloaded: false, digest, format: plan.format, bytesDownloaded: 0, trust: undefined };
  }
  // A newer digest of the same reference replaces its entry; any other model under that name stays (checked before downloading).
  const replaces = existing !== undefined && source?.type === "oci" && source.ref === formatOciRef(ref);
  if (existing && !replaces) {
    throw new EdgeError("model_exists", `${label} already exists in the store (from elsewhere); pull under another name with --name, or remove it first (edgelm rm ${label})`, {
      param: "--name",
    });
  }
  await client.getSmallBlob(repo, manifest.config.digest); // the config must be there and match its digest
  const signature = await fetchSignature(client, repo, digest);
  await mkdir(store.paths.downloads, { recursive: true });
  await mkdir(store.paths.tmp, { recursive: true });
  const lockPath = join(store.paths.downloads, `${digest.slice(7)}.lock`);
  return withLock(lockPath, { what: `the pull of ${where}`, busy: `${where} is being pulled`, waitMs: 0 }, async () => {
    const layers = plan.files.filter((f) => f.role !== "signature" || !signature); // a referrer wins over a model.sig layer
    const total = layers.reduce((sum, f) => sum + f.layer.size, 0);
    const progressLabel = `pulling ${label}`;
    const report = (done: number, finished = false): void =>
      options.progress?.({ label: progressLabel, done, total, ...(finished ? { finished } : {}) });
    const staged: StagedFile[] = [];
    const present: ManifestFile[] = [];
    const files: Array<ArtifactFile & { path: string }> = [];
    let before = 0;
    let bytesDownloaded = 0;
    /** The partial file being written, until it is staged. */
    let current: string | undefined;
    try {
      for (const file of layers) {
        const hex = file.layer.digest.slice("sha256:".length);
        const blob = store.blobPath(hex);
        if (blobSize(blob) === file.layer.size) {
          present.push({ name: file.name, role: file.role, sha256: hex, size: file.layer.size });
          files.push({ ...file, path: blob });
        } else {
          const partial = join(store.paths.downloads, `${hex}.partial`);
          const resumedFrom = blobSize(partial) ?? 0;
          current = partial;
          const actual = await downloadLayer(client, repo, file.layer, partial, config, {
            onProgress: (done) => report(before + done),
            onRetry: (reason) => logger.warn(`${reason}; resuming`),
          });
          if (actual !== file.layer.digest) {
            await rm(partial, { force: true });
            throw new EdgeError(
              "integrity_mismatch",
              `layer ${file.name} of ${where} does not match its digest: expected ${file.layer.digest}, got ${actual}; nothing was stored`,
              { details: { file: file.name, expected: file.layer.digest, actual } },
            );
          }
          bytesDownloaded += file.layer.size - Math.min(resumedFrom, file.layer.size);
          staged.push({ name: file.name, role: file.role, sha256: hex, size: file.layer.size, tempPath: partial });
          current = undefined;
          files.push({ ...file, path: partial });
        }
        before += file.layer.size;
      }
      report(total, true);
      settleRoles(files);
      for (const file of files) {
        const record = staged.find((s) => s.tempPath === file.path) ?? present.find((p) => p.name === file.name)!;
        record.role = file.role;
      }
      const model = files.find((f) => f.role === "model")!;
      let quantization: string;
      try {
        quantization = summarizeGguf(readGguf(model.path)).predominantType;
      } catch (error) {
        throw isEdgeError(error) ? new EdgeError(error.code, `${model.name} of ${where} is not a usable GGUF file: ${error.message}`) : error;
      }
      if (signature) {
        const tempPath = store.tempPath();
        writeFileSync(tempPath, signature.bytes, { mode: 0o644 });
        staged.push({ name: SIGNATURE_FILE, role: "signature", sha256: sha256Digest(signature.bytes).slice(7), size: signature.bytes.length, tempPath });
      }
      const content = [...present, ...staged].filter((f) => f.role !== "signature");
      const trust = await checkTrust(
        { kind: "files", name: label, files: content.map((f) => ({ name: f.name, sha256: f.sha256 })), ...(signature ? { signature: signature.bytes } : {}) },
        config,
      );
      const { entry } = await store.commit(
        staged,
        {
          name: target,
          layout: plan.layout,
          quantization,
          variantOf: null,
          force: replaces,
          source: { type: "oci", ref: formatOciRef(ref), digest, format: plan.format },
        },
        present,
      );
      return { entry, resolved: resolvedFromEntry(entry), downloaded: true, digest, format: plan.format, bytesDownloaded, trust };
    } catch (error) {
      report(before, true);
      // An interrupted transfer keeps its partial file to resume; anything refused leaves nothing behind.
      const resumable = isEdgeError(error) && error.code === "download_failed" && error.details?.partial !== undefined;
      for (const file of staged) if (!resumable || file.name === SIGNATURE_FILE) await rm(file.tempPath, { force: true });
      if (current && !resumable) await rm(current, { force: true }); // e.g. a full disk: no partial blob stays
      throw error;
    }
  });
}

/** For resolveModel: an oci:// reference, from the store when pulled before, else pulled (unless downloads are off). */
export async function resolveOciModel(ref: OciRef, config: Config, options: ResolveOptions): Promise<ResolvedModel> {
  const pulled = findPulled(config, ref);
  if (pulled) return resolvedFromEntry(pulled);
  if (options.allowDownload === false) {
    throw new EdgeError("model_not_found", `${formatOciRef(ref)} is not in the store yet; run \`edgelm pull ${formatOciRef(ref)}\` first`, { param: "model" });
  }
  return (await pullOciModel(ref, config, options)).resolved;
}
