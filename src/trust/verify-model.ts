/**
 * Verification before a model's bytes reach native code: every file of the
 * model is hashed (SHA-256) and compared with what vouches for it — the demo
 * pin, or the store manifest for each file of an entry. A file unchanged since
 * it was last hashed is vouched for by the verified-hash cache unless
 * `reverify` asks for a fresh read. A bare path has nothing to compare with:
 * its hash is computed (and cached) for the record.
 */
import { basename } from "node:path";
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import type { ProgressReporter } from "../progress.js";
import type { ResolvedFile, ResolvedModel } from "../store/resolved-model.js";
import { storePaths } from "../store/store-paths.js";
import { hashFileCached, VerifiedHashCache } from "./verified-hash-cache.js";

/** Files at least this large show a progress bar while hashed (on a TTY). */
const PROGRESS_MIN_BYTES = 64 * 1024 * 1024;

export interface FileVerification {
  name: string;
  path: string;
  sha256: string;
  /** The hash it had to have, when something vouches for it. */
  expected: string | undefined;
  /** True when the hash came from the verified-hash cache. */
  cached: boolean;
}

export interface VerificationResult {
  /** SHA-256 of the model file. */
  sha256: string;
  /** True when the hash matched an expected value (pin or manifest). */
  hashVerified: boolean;
  /** True when the model file's hash came from the cache (no re-read). */
  cached: boolean;
  /** Every file checked (the model file first). */
  files: FileVerification[];
}

export interface VerifyOptions {
  /** Re-hash even when the cache vouches for a file. Default: config.store.reverify. */
  reverify?: boolean;
  /** Told how hashing large files progresses. */
  progress?: ProgressReporter;
}

function filesToCheck(model: ResolvedModel): Array<Pick<ResolvedFile, "name" | "path"> & { sha256: string | undefined }> {
  if (model.files && model.files.length > 0) {
    const modelFirst = [...model.files].sort((a, b) => Number(b.path === model.path) - Number(a.path === model.path));
    return modelFirst.map((f) => ({ name: f.name, path: f.path, sha256: f.sha256 }));
  }
  return [{ name: basename(model.path), path: model.path, sha256: model.expectedSha256 }];
}

function mismatch(model: ResolvedModel, file: { name: string; path: string }, expected: string, actual: string): EdgeError {
  const what = model.source === "store" ? `model ${model.name}: ${file.name} (${file.path})` : file.path;
  const against = model.source === "store" ? "its manifest" : model.source === "demo" ? "its pinned hash" : "its recorded hash";
  const remedy = model.source === "store" ? `; the file was changed or damaged — remove it (edgelm rm ${model.name}) and add or pull it again` : "";
  return new EdgeError("integrity_mismatch", `${what} does not match ${against}: expected sha256 ${expected}, got ${actual}${remedy}`, {
    details: { model: model.name, file: file.name, path: file.path, expected, actual },
  });
}

/** Hashes and checks every file of `model`; throws `integrity_mismatch` naming the file and both hashes. */
export async function verifyModel(model: ResolvedModel, config: Config, options: VerifyOptions = {}): Promise<VerificationResult> {
  const cache = new VerifiedHashCache(storePaths(config.home).cache);
  const reverify = options.reverify ?? config.store.reverify;
  const files: FileVerification[] = [];
  for (const file of filesToCheck(model)) {
    const size = model.files?.find((f) => f.path === file.path)?.size;
    const report = options.progress && (size ?? 0) >= PROGRESS_MIN_BYTES ? options.progress : undefined;
    const label = `verifying ${file.name}`;
    let hashed;
    try {
      hashed = await hashFileCached(file.path, cache, { reverify, ...(report ? { onProgress: (n: number) => report({ label, done: n, ...(size !== undefined ? { total: size } : {}) }) } : {}) });
    } catch (error) {
      if (model.source === "store" && error instanceof EdgeError && error.code === "file_not_found") {
        throw new EdgeError("integrity_mismatch", `model ${model.name}: the blob of ${file.name} (${file.path}) is missing; remove the model (edgelm rm ${model.name}) and add or pull it again`, {
          details: { model: model.name, file: file.name, path: file.path, expected: file.sha256, actual: null },
        });
      }
      throw error;
    } finally {
      report?.({ label, done: size ?? 0, finished: true });
    }
    const { sha256, cached } = hashed;
    if (file.sha256 !== undefined && sha256 !== file.sha256) throw mismatch(model, file, file.sha256, sha256);
    files.push({ name: file.name, path: file.path, sha256, expected: file.sha256, cached });
  }
  const first = files[0]!;
  return { sha256: first.sha256, hashVerified: first.expected !== undefined, cached: first.cached, files };
}
