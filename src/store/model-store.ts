/**
 * The content-addressed model store under EDGELM_HOME: blobs named by their
 * SHA-256 and manifests naming models (`name:tag`). See docs/store.md.
 *
 * Writing a blob: bytes are copied into tmp/ while hashed, fsynced, then
 * renamed to blobs/sha256/<hash> — so a blob exists only once complete and its
 * name is the hash of what was written. An interrupted write leaves at most a
 * temp file in tmp/ (removed by the next writer once its owner is gone).
 * Manifests are written atomically, under the store lock, after their blobs.
 * Staging blobs is blob-staging.ts, copying an entry out store-export.ts, the
 * entry types store-entry.ts.
 *
 * (Over 350 lines: every way in — add, variant, fine-tuned version, link,
 * signature — ends in the same locked manifest write and garbage collection,
 * which are kept beside them.)
 */
import { readdirSync, readFileSync, rmdirSync, statSync, unlinkSync } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { DEMO_MODEL_NAME } from "../demo/demo-model.js";
import { EdgeError, isEdgeError, toEdgeError } from "../errors.js";
import { logger } from "../log.js";
import { writeFileAtomic } from "../atomic-write.js";
import { withLock } from "./lock-file.js";
import {
  checkManifestFiles,
  MANIFEST_VERSION,
  parseManifest,
  serializeManifest,
  SIGNATURE_FILE,
  type Manifest,
  type ManifestFile,
  type ManifestSource,
  type FederatedRecord,
  type TrainingRecord,
} from "./manifest.js";
import { ggufRole, scanModelFolder, type SourceFile } from "./model-folder.js";
import { closestMatch, DEFAULT_TAG, formatStoreName, parseStoreName, type ModelRef, type StoreName } from "./model-ref.js";
import type { ResolvedModel } from "./resolved-model.js";
import { blobPathIn, manifestPathIn, storePaths, type StorePaths } from "./store-paths.js";
import { BlobStaging, toManifestFile, type StagedFile } from "./blob-staging.js";
import { defaultModelName, predominantType, type AdapterOptions, type AddOptions, type AddResult, type EntryFacts, type StoreEntry, type StoreFile, type VariantOptions } from "./store-entry.js";
import { exportEntry } from "./store-export.js";

export { defaultModelName, predominantType } from "./store-entry.js";
export type { AdapterOptions, AddOptions, AddResult, EntryFacts, StoreEntry, StoreFile, VariantOptions } from "./store-entry.js";
export type { StagedFile } from "./blob-staging.js";

function sameFiles(a: readonly ManifestFile[], b: readonly ManifestFile[]): boolean {
  const key = (files: readonly ManifestFile[]) =>
    files
      .map((f) => `${f.name}\0${f.role}\0${f.sha256}\0${f.size}`)
      .sort()
      .join("\n");
  return key(a) === key(b);
}

export class ModelStore {
  readonly paths: StorePaths;

  /** @param home EDGELM_HOME (config.home). */
  private readonly staging: BlobStaging;

  constructor(home: string) {
    this.paths = storePaths(home);
    this.staging = new BlobStaging(this.paths);
  }

  static open(config: Config): ModelStore {
    return new ModelStore(config.home);
  }

  blobPath(sha256: string): string {
    return blobPathIn(this.paths, sha256);
  }

  // ── reading ────────────────────────────────────────────────────────────

  /** Every entry, sorted by name and tag. A damaged manifest is skipped with a warning. */
  list(): StoreEntry[] {
    const entries: StoreEntry[] = [];
    for (const path of this.manifestFiles()) {
      try {
        entries.push(this.readEntry(path));
      } catch (error) {
        logger.warn(isEdgeError(error) ? error.message : `cannot read manifest ${path}: ${String(error)}`);
      }
    }
    return entries.sort((a, b) => a.name.localeCompare(b.name) || a.tag.localeCompare(b.tag));
  }

  /** The entry for `name[:tag]` (tag `latest` when absent), or undefined. A damaged manifest is an error. */
  get(ref: string | StoreName): StoreEntry | undefined {
    const name = typeof ref === "string" ? parseStoreName(ref, "model") : ref;
    const path = manifestPathIn(this.paths, name.name, name.tag);
    try {
      statSync(path);
    } catch {
      return undefined;
    }
    return this.readEntry(path);
  }

  /** Like {@link get}, but an unknown name is a `model_not_found` error with the closest suggestion. */
  require(ref: string): StoreEntry {
    const entry = this.get(ref);
    if (entry) return entry;
    const names = this.list().map((e) => e.reference);
    const suggestion = closestMatch(ref.includes(":") ? ref : `${ref}:${DEFAULT_TAG}`, names);
    throw new EdgeError(
      "model_not_found",
      `no model "${ref}" in the store${suggestion ? `; did you mean "${suggestion}"?` : ""} (see \`edgelm list\`)`,
      { param: "model", ...(suggestion ? { details: { suggestion } } : {}) },
    );
  }

  /** The first entry whose manifest source matches, e.g. an earlier download of the same hf: file. */
  findBySource(matches: (source: ManifestSource) => boolean): StoreEntry | undefined {
    return this.list().find((entry) => matches(entry.manifest.source));
  }

  private manifestFiles(): string[] {
    const out: string[] = [];
    const walk = (dir: string, depth: number): void => {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return;
      }
      for (const name of names) {
        if (name.startsWith(".")) continue; // temp files of atomic writes
        const path = join(dir, name);
        if (name.endsWith(".json")) out.push(path);
        else if (depth < 2) walk(path, depth + 1);
      }
    };
    walk(this.paths.manifests, 0);
    return out;
  }

  private readEntry(path: string): StoreEntry {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw toEdgeError(error, `cannot read manifest ${path}`);
    }
    const manifest = parseManifest(text, path);
    const expected = manifestPathIn(this.paths, manifest.name, manifest.tag);
    if (resolve(expected) !== resolve(path)) {
      throw new EdgeError("io_error", `manifest ${path} names ${manifest.name}:${manifest.tag}, which belongs at ${relative(this.paths.home, expected)}`);
    }
    const files = manifest.files.map((f) => ({ ...f, path: this.blobPath(f.sha256) }));
    return {
      reference: formatStoreName(manifest),
      name: manifest.name,
      tag: manifest.tag,
      manifest,
      manifestPath: path,
      files,
      model: files.find((f) => f.role === (manifest.adapter_of ? "adapter" : "model"))!,
      signature: files.find((f) => f.role === "signature"),
      size: files.reduce((sum, f) => sum + f.size, 0),
    };
  }

  // ── writing ────────────────────────────────────────────────────────────

  /**
   * Imports a GGUF file or a model folder. Each file is copied into the store
   * while hashed; the manifest lists them under their relative names. Adding
   * the same files under the same name again is a no-op that also repairs
   * damaged blobs; other files under a taken name need `force`.
   */
  async add(sourcePath: string, options: AddOptions = {}): Promise<AddResult> {
    const path = resolve(sourcePath);
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      throw toEdgeError(error, `cannot add ${path}`);
    }
    let files: SourceFile[];
    let layout: Manifest["layout"];
    if (info.isDirectory()) {
      if (options.signature !== undefined) {
        throw new EdgeError("usage", `--signature is for a single file; put ${SIGNATURE_FILE} inside the folder instead`, { param: "--signature" });
      }
      files = await scanModelFolder(path);
      layout = "folder";
    } else if (info.isFile()) {
      if (ggufRole(path) !== "model") {
        throw new EdgeError("unsupported", `${path} is a LoRA adapter, not a model; store it as an entry of its base with \`edgelm add ${path} [--base <name:tag>]\` (adapt/store-adapter.ts)`);
      }
      files = [{ name: basename(path), path, role: "model" }];
      if (options.signature !== undefined) files.push({ name: SIGNATURE_FILE, path: resolve(options.signature), role: "signature" });
      layout = "file";
    } else {
      throw new EdgeError("not_a_file", `${path} is neither a file nor a folder`);
    }
    const model = files.find((f) => f.role === "model")!;
    const facts: EntryFacts = {
      name: options.name !== undefined ? parseStoreName(options.name) : { name: defaultModelName(path), tag: DEFAULT_TAG },
      layout,
      source: { type: layout, path },
      quantization: predominantType(model.path),
      variantOf: null,
      ...(options.force !== undefined ? { force: options.force } : {}),
    };
    return this.addFiles(files, facts);
  }

  /**
   * Stores a model made from another entry (a quantized variant): its own
   * entry and manifest, linked to the source by `variant_of`.
   * @param sourceName `name[:tag]` of the entry it was made from (must exist).
   * @param file the variant's GGUF file.
   */
  async addVariant(sourceName: string, file: string, options: VariantOptions): Promise<StoreEntry> {
    const source = this.require(sourceName);
    const path = resolve(file);
    const facts: EntryFacts = {
      name: parseStoreName(`${options.name}:${options.tag}`, "name"),
      layout: "file",
      source: options.source ?? { type: "variant", from: source.reference, ...(options.tool !== undefined ? { tool: options.tool } : {}) },
      quantization: options.quantization ?? predominantType(path),
      variantOf: source.reference,
      ...(options.force !== undefined ? { force: options.force } : {}),
      ...(options.settings ? { settings: options.settings } : {}),
    };
    const modelName = `${defaultModelName(`${options.name.replace(/\//g, "-")}-${options.tag}`)}.gguf`;
    const staged: StagedFile[] = [];
    try {
      staged.push(options.move ? await this.staging.move(path, modelName) : await this.staging.copy({ name: modelName, path, role: "model" }));
      if (options.signature !== undefined) {
        staged.push(await this.staging.copy({ name: SIGNATURE_FILE, path: resolve(options.signature), role: "signature" }));
      }
      return (await this.commit(staged, facts)).entry;
    } finally {
      await this.staging.discard(staged);
    }
  }

  /**
   * Stores a version of `baseName` fine-tuned on this device: its own entry and manifest, linked to the base by
   * `fine_tuned_from` (not `variant_of`: it is not the base at another precision), with the training record.
   */
  async addFineTuned(
    baseName: string,
    file: string,
    options: { name: string; tag: string; signature?: string; move?: boolean; force?: boolean } & (
      | { training: TrainingRecord; federated?: undefined }
      | { federated: FederatedRecord; training?: undefined }
    ),
  ): Promise<StoreEntry> {
    const base = this.require(baseName);
    const path = resolve(file);
    const tool = options.training ? `llama.cpp ${options.training.trainer} llama-finetune` : "edgelm federate (FedAvg of participants' deltas)";
    const facts: EntryFacts = {
      name: parseStoreName(`${options.name}:${options.tag}`, "--out"),
      layout: "file",
      source: { type: "fine-tuned", from: base.reference, tool },
      quantization: predominantType(path),
      variantOf: null,
      fineTuned: options.training ? { from: base.reference, training: options.training } : { from: base.reference, federated: options.federated },
      ...(options.force !== undefined ? { force: options.force } : {}),
    };
    const modelName = `${defaultModelName(`${options.name.replace(/\//g, "-")}-${options.tag}`)}.gguf`;
    const staged: StagedFile[] = [];
    try {
      staged.push(options.move ? await this.staging.move(path, modelName) : await this.staging.copy({ name: modelName, path, role: "model" }));
      if (options.signature !== undefined) staged.push(await this.staging.copy({ name: SIGNATURE_FILE, path: resolve(options.signature), role: "signature" }));
      return (await this.commit(staged, facts)).entry;
    } finally {
      await this.staging.discard(staged);
    }
  }

  /**
   * Stores a LoRA adapter as an entry of its base: its own manifest (`adapter_of`: the base's name and model SHA-256)
   * and blob, the file's role `adapter`. Checking that the adapter fits the base is the caller's (adapt/store-adapter.ts).
   */
  async addAdapter(file: string, options: AdapterOptions): Promise<StoreEntry> {
    const path = resolve(file);
    const facts: EntryFacts = {
      name: parseStoreName(`${options.name}:${options.tag}`, "--name"),
      layout: "file",
      source: options.source ?? { type: "file", path },
      quantization: predominantType(path),
      variantOf: null,
      adapterOf: options.base,
      ...(options.force !== undefined ? { force: options.force } : {}),
    };
    const fileName = `${defaultModelName(`${options.name.replace(/\//g, "-")}-${options.tag}`)}.gguf`;
    const staged: StagedFile[] = [];
    try {
      staged.push(options.move ? await this.staging.move(path, fileName, "adapter") : await this.staging.copy({ name: fileName, path, role: "adapter" }));
      if (options.signature !== undefined) staged.push(await this.staging.copy({ name: SIGNATURE_FILE, path: resolve(options.signature), role: "signature" }));
      return (await this.commit(staged, facts)).entry;
    } finally {
      await this.staging.discard(staged);
    }
  }

  /** Adds or replaces the `model.sig` of an entry (e.g. after `edgelm sign`). */
  async attachSignature(ref: string, signaturePath: string): Promise<StoreEntry> {
    const entry = this.require(ref);
    const staged: StagedFile[] = [];
    try {
      staged.push(await this.staging.copy({ name: SIGNATURE_FILE, path: resolve(signaturePath), role: "signature" }));
      return await withLock(this.paths.lock, { what: "the model store" }, async () => {
        const current = this.require(entry.reference);
        const files = [...current.manifest.files.filter((f) => f.role !== "signature"), ...staged.map(toManifestFile)];
        await this.staging.commit(staged);
        await this.writeManifest({ ...current.manifest, files });
        this.collectGarbage();
        return this.require(entry.reference);
      });
    } finally {
      await this.staging.discard(staged);
    }
  }

  /** Copies source files into the store and writes the entry. */
  async addFiles(files: readonly SourceFile[], facts: EntryFacts): Promise<AddResult> {
    const staged: StagedFile[] = [];
    try {
      for (const file of files) staged.push(await this.staging.copy(file));
      return await this.commit(staged, facts);
    } finally {
      await this.staging.discard(staged);
    }
  }

  /**
   * Turns staged files into blobs and writes the manifest, under the store
   * lock. The staged temp files are consumed (renamed) on success. `present`
   * lists files whose blobs the store already holds (checked under the lock).
   */
  async commit(staged: readonly StagedFile[], facts: EntryFacts, present: readonly ManifestFile[] = []): Promise<AddResult> {
    return this.writeEntry([...present, ...staged.map(toManifestFile)], staged, facts);
  }

  /** A new entry over the same blobs as `from` (e.g. a catalog name for a file already pulled by its hf: reference). */
  async link(from: StoreEntry, facts: EntryFacts): Promise<AddResult> {
    return this.writeEntry(from.manifest.files, [], facts);
  }

  private async writeEntry(files: ManifestFile[], staged: readonly StagedFile[], facts: EntryFacts): Promise<AddResult> {
    const where = formatStoreName(facts.name);
    if (facts.name.name === DEMO_MODEL_NAME) {
      throw new EdgeError("usage", `"${DEMO_MODEL_NAME}" is the built-in demo model's name; choose another`, { param: "--name" });
    }
    checkManifestFiles(files, where, facts.adapterOf !== undefined);
    return withLock(this.paths.lock, { what: "the model store" }, async () => {
      let existing: StoreEntry | undefined;
      try {
        existing = this.get(facts.name);
      } catch (error) {
        if (!facts.force) throw error; // a damaged manifest is replaced only when asked
      }
      const sameFacts =
        JSON.stringify(existing?.manifest.settings ?? {}) === JSON.stringify(facts.settings ?? {}) && JSON.stringify(existing?.manifest.adapters ?? []) === JSON.stringify(facts.adapters ?? []);
      if (existing && sameFiles(existing.manifest.files, files) && sameFacts) {
        await this.staging.commit(staged); // same bytes: rewriting the blobs repairs a damaged one
        return { entry: existing, created: false };
      }
      if (existing && !facts.force) {
        throw new EdgeError("model_exists", `${where} already exists with other files; remove it first (edgelm rm ${where}) or pass --force`, {
          param: "--name",
        });
      }
      const manifest: Manifest = {
        schema_version: MANIFEST_VERSION,
        name: facts.name.name,
        tag: facts.name.tag,
        layout: facts.layout,
        files,
        quantization: facts.quantization,
        variant_of: facts.variantOf,
        source: facts.source,
        created: new Date().toISOString(),
        ...(facts.settings && Object.keys(facts.settings).length > 0 ? { settings: facts.settings } : {}),
        ...(facts.fineTuned
          ? {
              fine_tuned_from: facts.fineTuned.from,
              ...(facts.fineTuned.training ? { training: facts.fineTuned.training } : {}),
              ...(facts.fineTuned.federated ? { federated: facts.fineTuned.federated } : {}),
            }
          : {}),
        ...(facts.adapterOf ? { adapter_of: facts.adapterOf } : {}),
        ...(facts.adapters && facts.adapters.length > 0 ? { adapters: facts.adapters } : {}),
      };
      await this.staging.commit(staged);
      for (const file of files) {
        try {
          statSync(this.blobPath(file.sha256));
        } catch {
          throw new EdgeError("io_error", `cannot create ${where}: the blob of ${file.name} (${this.blobPath(file.sha256)}) is missing`);
        }
      }
      await this.writeManifest(manifest);
      if (existing) this.collectGarbage();
      return { entry: this.get(facts.name)!, created: true };
    });
  }

  /** Removes an entry and every blob no other entry uses. Returns the bytes freed. */
  async remove(ref: string): Promise<{ entry: StoreEntry; freedBytes: number }> {
    const entry = this.require(ref);
    return withLock(this.paths.lock, { what: "the model store" }, async () => {
      try {
        unlinkSync(entry.manifestPath);
      } catch (error) {
        throw toEdgeError(error, `cannot remove ${entry.manifestPath}`);
      }
      // Drop an emptied owner directory (names like owner/model).
      const parent = dirname(entry.manifestPath);
      if (resolve(parent) !== resolve(this.paths.manifests)) {
        try {
          rmdirSync(parent);
        } catch {
          // not empty: other tags remain
        }
      }
      return { entry, freedBytes: this.collectGarbage() };
    });
  }

  /**
   * Writes an entry's files under their manifest names (plus model.sig) into
   * `folder`, ready to copy to another device. Each blob is re-hashed while
   * copied; a damaged blob is an integrity error, not a bad export.
   * @returns the paths written.
   */
  async export(ref: string, folder: string, options: { force?: boolean } = {}): Promise<string[]> {
    return exportEntry(this.require(ref), folder, options);
  }

  // ── internals ──────────────────────────────────────────────────────────

  /** A fresh temp path in tmp/, named with our pid so a dead writer's leftovers can be told apart. */
  tempPath(): string {
    return this.staging.tempPath();
  }

  private async writeManifest(manifest: Manifest): Promise<void> {
    await writeFileAtomic(manifestPathIn(this.paths, manifest.name, manifest.tag), serializeManifest(manifest));
  }

  /** Deletes blobs no manifest lists (call under the store lock). Returns the bytes freed. */
  private collectGarbage(): number {
    const used = new Set<string>();
    for (const path of this.manifestFiles()) {
      try {
        for (const file of this.readEntry(path).files) used.add(file.sha256);
      } catch {
        return 0; // a damaged manifest might name any blob: keep them all
      }
    }
    let freed = 0;
    let names: string[];
    try {
      names = readdirSync(this.paths.blobs);
    } catch {
      return 0;
    }
    for (const name of names) {
      if (!/^[0-9a-f]{64}$/.test(name) || used.has(name)) continue;
      const path = join(this.paths.blobs, name);
      try {
        freed += statSync(path).size;
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
    return freed;
  }

  /** Removes temp files whose writer is no longer running (an interrupted add or pull). */
  removeStaleTemps(): void {
    this.staging.removeStaleTemps();
  }
}

/** A store entry as a model to load: the model blob, with every file's manifest digest. */
export function resolvedFromEntry(entry: StoreEntry): ResolvedModel {
  return {
    name: entry.reference,
    path: entry.model.path,
    source: "store",
    expectedSha256: entry.model.sha256,
    manifest: entry.manifest,
    files: entry.files.map((f) => ({ name: f.name, role: f.role, sha256: f.sha256, size: f.size, path: f.path })),
    ...(entry.signature ? { signaturePath: entry.signature.path } : {}),
  };
}

/** Names in the store, for suggestions and for telling models from prompts (`name:tag`, and `name` for `latest`). */
export function storeNames(config: Config): string[] {
  const names: string[] = [];
  for (const entry of ModelStore.open(config).list()) {
    names.push(entry.reference);
    if (entry.tag === DEFAULT_TAG) names.push(entry.name);
  }
  return names;
}

/** Looks a `name[:tag]` reference up in the store (tag `latest` when absent); an adapter entry is no model (unsupported_model). */
export function findInStore(ref: Extract<ModelRef, { kind: "name" }>, config: Config): ResolvedModel | undefined {
  const entry = ModelStore.open(config).get({ name: ref.name, tag: ref.tag ?? DEFAULT_TAG });
  if (entry?.manifest.adapter_of) {
    const base = entry.manifest.adapter_of.name;
    throw new EdgeError("unsupported_model", `${entry.reference} is a LoRA adapter of ${base}, not a model: serve ${base} and list ${entry.reference} under its adapters (server.models[].adapters), or apply it with --lora`, {
      param: "model",
    });
  }
  return entry ? resolvedFromEntry(entry) : undefined;
}

/**
 * What signature verification needs of an entry: its files with the digests
 * its manifest records (no re-hashing), the layout (a single-file model is
 * signed as resource "."), and its model.sig if any.
 */
export function entryForSigning(config: Config, ref: string): {
  entry: StoreEntry;
  layout: Manifest["layout"];
  files: StoreFile[];
  signature: StoreFile | undefined;
} {
  const entry = ModelStore.open(config).require(ref);
  return { entry, layout: entry.manifest.layout, files: entry.files.filter((f) => f.role !== "signature"), signature: entry.signature };
}
