/**
 * Remembers the SHA-256 of files already hashed, so a multi-GB model is not
 * re-read on every load. An entry is keyed by device and inode and is valid
 * only while size, mtime and ctime are unchanged (nanoseconds): any write to
 * the file changes mtime, and ctime cannot be set back from user space even
 * when mtime is (touch -d), so a flipped byte always means a re-hash.
 *
 * The cache lives in $EDGELM_HOME/cache/verified-sha256.json, beside the
 * store it speeds up, and is no more trusted than the store itself;
 * `--reverify` (store.reverify) ignores it.
 */
import type { BigIntStats } from "node:fs";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { toEdgeError } from "../errors.js";
import { writeFileAtomic } from "../atomic-write.js";
import { logger } from "../log.js";
import { sha256File } from "./file-hash.js";

interface CacheRecord {
  path: string;
  size: string;
  mtime_ns: string;
  ctime_ns: string;
  sha256: string;
}

interface CacheFile {
  version: 1;
  entries: Record<string, CacheRecord>;
}

/** Entries kept at most; the oldest (first inserted) go first. */
const MAX_ENTRIES = 2000;

export const VERIFIED_HASH_CACHE_FILE = "verified-sha256.json";

function keyOf(stat: BigIntStats): string {
  return `${stat.dev}:${stat.ino}`;
}

function matches(record: CacheRecord, stat: BigIntStats): boolean {
  return record.size === String(stat.size) && record.mtime_ns === String(stat.mtimeNs) && record.ctime_ns === String(stat.ctimeNs);
}

export class VerifiedHashCache {
  readonly file: string;

  /** @param cacheDir $EDGELM_HOME/cache */
  constructor(cacheDir: string) {
    this.file = join(cacheDir, VERIFIED_HASH_CACHE_FILE);
  }

  private load(): CacheFile {
    try {
      const data = JSON.parse(readFileSync(this.file, "utf8")) as CacheFile;
      if (data && data.version === 1 && typeof data.entries === "object" && data.entries !== null) return data;
    } catch {
      // absent or damaged: start over (it is only a cache)
    }
    return { version: 1, entries: {} };
  }

  /** The cached SHA-256 for a file in this exact state, if any. */
  lookup(stat: BigIntStats): string | undefined {
    const record = this.load().entries[keyOf(stat)];
    return record && matches(record, stat) && /^[0-9a-f]{64}$/.test(record.sha256) ? record.sha256 : undefined;
  }

  /** Records a hash computed for a file in the state `stat` describes. Failing to write the cache is only a warning. */
  async record(path: string, stat: BigIntStats, sha256: string): Promise<void> {
    const data = this.load(); // re-read: another process may have added entries meanwhile
    const key = keyOf(stat);
    delete data.entries[key];
    data.entries[key] = { path, size: String(stat.size), mtime_ns: String(stat.mtimeNs), ctime_ns: String(stat.ctimeNs), sha256 };
    const keys = Object.keys(data.entries);
    for (const old of keys.slice(0, Math.max(0, keys.length - MAX_ENTRIES))) delete data.entries[old];
    try {
      await writeFileAtomic(this.file, `${JSON.stringify(data)}\n`);
    } catch (error) {
      logger.warn(`cannot update the verified-hash cache: ${(error as Error).message}`);
    }
  }
}

export interface CachedHash {
  sha256: string;
  /** True when the hash came from the cache rather than reading the file. */
  cached: boolean;
}

/**
 * The SHA-256 of a file, from the cache when the file is unchanged since it
 * was last hashed (unless `reverify`), else by streaming it (then cached).
 * @param onProgress bytes hashed so far, while hashing.
 */
export async function hashFileCached(
  path: string,
  cache: VerifiedHashCache,
  options: { reverify?: boolean; onProgress?: (bytes: number) => void } = {},
): Promise<CachedHash> {
  let before: BigIntStats;
  try {
    before = statSync(path, { bigint: true });
  } catch (error) {
    throw toEdgeError(error, `cannot read ${path}`);
  }
  if (!options.reverify) {
    const known = cache.lookup(before);
    if (known) return { sha256: known, cached: true };
  }
  const sha256 = await sha256File(path, options.onProgress);
  const after = statSync(path, { bigint: true });
  // Cache only if nothing wrote to the file while it was being read.
  if (keyOf(after) === keyOf(before) && matches({ path, size: String(before.size), mtime_ns: String(before.mtimeNs), ctime_ns: String(before.ctimeNs), sha256 }, after)) {
    await cache.record(path, after, sha256);
  }
  return { sha256, cached: false };
}
