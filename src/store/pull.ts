/**
 * Downloads models into the store: hf: references and catalog names. Each
 * file is downloaded once (later uses resolve from the store, offline),
 * resumed after an interruption, checked against the SHA-256 the hub
 * advertises, validated as GGUF, and only then committed as a blob with its
 * manifest. Partial downloads wait in downloads/ for the next attempt.
 */
import { createHash } from "node:crypto";
import { rm } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Config } from "../config/schema.js";
import { EdgeError, isEdgeError } from "../errors.js";
import { readGguf } from "../gguf/gguf-reader.js";
import { summarizeGguf } from "../gguf/gguf-summary.js";
import { logger } from "../log.js";
import type { CatalogEntry } from "./catalog.js";
import { canonicalHfRef, downloadHubFile, fetchHubFileInfo, type HfRef, type HubFile } from "./hf-download.js";
import { isNetworkError } from "./http-request.js";
import { withLock } from "./lock-file.js";
import type { ManifestSource } from "./manifest.js";
import { formatStoreName, parseModelRef, type StoreName } from "./model-ref.js";
import { defaultModelName, ModelStore, resolvedFromEntry, type EntryFacts, type StoreEntry } from "./model-store.js";
import type { ResolvedModel, ResolveOptions } from "./resolved-model.js";

export interface PullOptions extends ResolveOptions {
  /** Store under this name instead of the default. */
  name?: StoreName;
}

export interface PullResult {
  entry: StoreEntry;
  resolved: ResolvedModel;
  /** False when the model was already in the store (nothing downloaded). */
  downloaded: boolean;
}

/** The hf: reference a catalog entry stands for. */
export function catalogHfRef(entry: CatalogEntry): HfRef {
  return { kind: "hf", owner: entry.owner, repo: entry.repo, file: entry.file, revision: entry.revision };
}

/** The default store name of an hf: file: `owner/repo` and the file's stem (plus the revision unless it is main). */
export function hfStoreName(ref: HfRef): StoreName {
  const name = `${defaultModelName(ref.owner)}/${defaultModelName(ref.repo)}`;
  const stem = defaultModelName(ref.file.replace(/\//g, "-"));
  const tag = ref.revision === "main" ? stem : `${stem}-${defaultModelName(ref.revision)}`;
  return { name, tag: tag.slice(0, 120) };
}

/** Does a manifest source record a download of this hf: file? */
function isSameHfFile(source: ManifestSource, ref: HfRef): boolean {
  if (source.type !== "hf" && source.type !== "catalog") return false;
  try {
    const stored = parseModelRef(source.ref);
    return (
      stored.kind === "hf" &&
      stored.owner.toLowerCase() === ref.owner.toLowerCase() &&
      stored.repo.toLowerCase() === ref.repo.toLowerCase() &&
      stored.file === ref.file &&
      stored.revision === ref.revision
    );
  } catch {
    return false;
  }
}

function offlineHint(error: EdgeError, ref: string): EdgeError {
  return new EdgeError(
    "network_unreachable",
    `${error.message} to download ${ref}; offline, pass a local file instead (edgelm run ./model.gguf) or import one (edgelm add ./model.gguf --name <name>)`,
    { ...(error.details ? { details: error.details } : {}), cause: error },
  );
}

/** The partial-download file for a hub file: keyed by its SHA-256, or by its commit when no hash is advertised. */
function partialKey(file: HubFile): string | undefined {
  if (file.sha256) return file.sha256;
  if (file.commit) return createHash("sha256").update(`${file.ref.owner}/${file.ref.repo}/${file.ref.file}@${file.commit}`).digest("hex");
  return undefined; // nothing pins the content: a fresh download each time
}

/**
 * Makes sure an hf: file is in the store under `target` (downloading it at
 * most once) and returns the entry.
 */
async function pullHubFile(
  ref: HfRef,
  target: StoreName,
  source: (file: HubFile) => ManifestSource,
  config: Config,
  options: ResolveOptions & { pullAs: string },
): Promise<PullResult> {
  const store = ModelStore.open(config);
  const existing = store.get(target);
  if (existing) return { entry: existing, resolved: resolvedFromEntry(existing), downloaded: false };
  const canonical = canonicalHfRef(ref);
  const label = formatStoreName(target);

  // Already downloaded under another name: a new manifest over the same blobs, no network.
  const same = store.findBySource((s) => isSameHfFile(s, ref));
  if (same) {
    const hubFile: HubFile = {
      ref,
      resolveUrl: new URL("hf:local"),
      downloadUrl: new URL("hf:local"),
      sha256: same.model.sha256,
      size: same.model.size,
      commit: "commit" in same.manifest.source ? same.manifest.source.commit : undefined,
    };
    const { entry } = await store.link(same, { ...factsFor(target, same.manifest.quantization), source: source(hubFile) });
    return { entry, resolved: resolvedFromEntry(entry), downloaded: false };
  }

  if (options.allowDownload === false) {
    throw new EdgeError("model_not_found", `${options.pullAs} is not in the store yet; run \`edgelm pull ${options.pullAs}\` first`, { param: "model" });
  }
  let file: HubFile;
  try {
    file = await fetchHubFileInfo(ref, config);
  } catch (error) {
    throw isNetworkError(error) ? offlineHint(error as EdgeError, canonical) : error;
  }
  if (!file.sha256) logger.warn(`${config.hf_endpoint} advertises no SHA-256 for ${canonical}; it will be stored under the hash computed while downloading`);

  const key = partialKey(file);
  const partial = key ? join(store.paths.downloads, `${key}.partial`) : store.tempPath();
  const lockPath = key ? join(store.paths.downloads, `${key}.lock`) : `${partial}.lock`;
  return withLock(lockPath, { what: `the download of ${canonical}`, busy: `${canonical} is being downloaded`, waitMs: 0 }, async () => {
    const progressLabel = `pulling ${label}`;
    const report = (done: number, total: number | undefined, finished = false): void =>
      options.progress?.({
        label: progressLabel,
        done,
        ...(total !== undefined ? { total } : {}),
        ...(file.sha256 ? { digest: file.sha256 } : {}),
        ...(finished ? { finished } : {}),
      });
    let result;
    try {
      result = await downloadHubFile(file, partial, config, {
        onProgress: (done, total) => report(done, total),
        onRetry: (attempt, reason) => {
          report(0, file.size, true);
          logger.warn(`${reason}; resuming (attempt ${attempt + 1} of ${config.store.download_retries + 1})`);
        },
      });
    } catch (error) {
      report(0, file.size, true);
      if (!key) await rm(partial, { force: true }); // unpinned content cannot be resumed safely
      throw isNetworkError(error) ? offlineHint(error as EdgeError, canonical) : error;
    }
    report(result.size, file.size ?? result.size, true);
    const advertisedSize = file.size;
    if ((file.sha256 && result.sha256 !== file.sha256) || (advertisedSize !== undefined && result.size !== advertisedSize)) {
      await rm(partial, { force: true });
      throw new EdgeError(
        "integrity_mismatch",
        `${canonical} does not match what ${file.resolveUrl.origin} advertises: expected sha256 ${file.sha256 ?? "(none)"}${advertisedSize !== undefined ? ` (${advertisedSize} bytes)` : ""}, got ${result.sha256} (${result.size} bytes); the partial download was deleted`,
        { details: { ref: canonical, expected: file.sha256, actual: result.sha256, expected_size: advertisedSize, size: result.size } },
      );
    }
    let quantization: string;
    try {
      quantization = summarizeGguf(readGguf(partial)).predominantType;
    } catch (error) {
      await rm(partial, { force: true });
      throw isEdgeError(error) ? new EdgeError(error.code, `downloaded ${canonical} is not a usable GGUF file: ${error.message}`) : error;
    }
    const { entry } = await store.commit(
      [{ name: basename(ref.file), role: "model", sha256: result.sha256, size: result.size, tempPath: partial }],
      { ...factsFor(target, quantization), source: source(file) },
    );
    return { entry, resolved: resolvedFromEntry(entry), downloaded: true };
  });
}

function factsFor(target: StoreName, quantization: string | null): Omit<EntryFacts, "source"> {
  return { name: target, layout: "file", quantization, variantOf: null };
}

/**
 * An hf: reference as a model on this machine: from the store when any entry
 * holds that file (however it is named), else downloaded into the store under
 * `options.name` or its default name.
 */
export async function pullHfModel(ref: HfRef, config: Config, options: PullOptions = {}): Promise<PullResult> {
  const store = ModelStore.open(config);
  if (!options.name) {
    const stored = store.findBySource((s) => isSameHfFile(s, ref));
    if (stored) return { entry: stored, resolved: resolvedFromEntry(stored), downloaded: false };
  }
  const canonical = canonicalHfRef(ref);
  return pullHubFile(ref, options.name ?? hfStoreName(ref), (file) => ({
    type: "hf",
    ref: canonical,
    url: file.resolveUrl.href,
    ...(file.commit ? { commit: file.commit } : {}),
  }), config, { ...options, pullAs: canonical });
}

/** A catalog model as a model on this machine: in the store under its catalog name (e.g. smollm2:360m-q8_0), pulled once. */
export async function pullCatalogEntry(entry: CatalogEntry, config: Config, options: PullOptions = {}): Promise<PullResult> {
  const ref = catalogHfRef(entry);
  const [name, tag] = entry.name.split(":") as [string, string];
  return pullHubFile(ref, options.name ?? { name, tag }, (file) => ({
    type: "catalog",
    name: entry.name,
    ref: canonicalHfRef(ref),
    url: file.resolveUrl.href,
    ...(file.commit ? { commit: file.commit } : {}),
  }), config, { ...options, pullAs: entry.name });
}
