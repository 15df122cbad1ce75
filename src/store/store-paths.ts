/**
 * Where the store keeps things under EDGELM_HOME. Everything lives on one
 * filesystem so that a finished temp file becomes a blob by rename(2).
 *
 *   blobs/sha256/<hex>           file contents, named by their SHA-256
 *   manifests/<name>/<tag>.json  one manifest per model entry
 *   tmp/                         blobs being written (never look valid)
 *   downloads/                   partial downloads kept for resuming
 *   uploads/<hex>                blobs pushed over the API (Ollama's /api/blobs), until a model is created from them
 *   cache/                       the verified-hash cache
 */
import { join } from "node:path";

export interface StorePaths {
  home: string;
  blobs: string;
  manifests: string;
  tmp: string;
  downloads: string;
  uploads: string;
  cache: string;
  lock: string;
}

export function storePaths(home: string): StorePaths {
  return {
    home,
    blobs: join(home, "blobs", "sha256"),
    manifests: join(home, "manifests"),
    tmp: join(home, "tmp"),
    downloads: join(home, "downloads"),
    uploads: join(home, "uploads"),
    cache: join(home, "cache"),
    lock: join(home, "store.lock"),
  };
}

/** The blob path for a SHA-256 (lower-case hex). */
export function blobPathIn(paths: StorePaths, sha256: string): string {
  return join(paths.blobs, sha256);
}

/** The manifest path for `name:tag` (a name with `/` nests one directory). */
export function manifestPathIn(paths: StorePaths, name: string, tag: string): string {
  return join(paths.manifests, ...name.split("/"), `${tag}.json`);
}
