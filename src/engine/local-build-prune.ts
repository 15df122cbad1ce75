/**
 * After `edgelm engine build --backend node-llama-cpp` succeeds, node_modules
 * holds the whole llama.cpp clone (~200 MB of sources) and node-llama-cpp's
 * CMake tree (objects, static libraries) beside the addon it loads. This keeps
 * only what the build runs with:
 *
 * - in the clone (node_modules/node-llama-cpp/llama/llama.cpp): `grammars/`,
 *   which a local build reads its JSON grammars from, and `.git`, without
 *   which node-llama-cpp treats the clone as absent and will not use that
 *   grammars folder (its isLlamaCppRepoCloned check);
 * - in the build folder (llama/localBuilds/<name>): `Release/` (the addon and
 *   its build metadata) and `buildDone.status`, the three things
 *   node-llama-cpp checks before it loads a local build.
 *
 * A later `engine build` clones the source again (`source download` replaces
 * the folder), so nothing is lost that a rebuild needs.
 */
import { lstatSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

/** Entries of the llama.cpp clone a finished local build still needs. */
export const SOURCE_ENTRIES_KEPT: readonly string[] = [".git", "grammars"];
/** Entries of node-llama-cpp's build folder it needs to load the build. */
export const BUILD_ENTRIES_KEPT: readonly string[] = ["Release", "buildDone.status"];

export interface PruneResult {
  /** Paths removed (top-level entries of either folder). */
  removed: string[];
  /** Bytes of the files removed. */
  freedBytes: number;
}

function bytesUnder(path: string): number {
  const info = lstatSync(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const name of readdirSync(path)) total += bytesUnder(join(path, name));
  return total;
}

function pruneFolder(folder: string, keep: readonly string[], result: PruneResult): void {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return; // nothing there to prune
  }
  for (const name of names.sort()) {
    if (keep.includes(name)) continue;
    const path = join(folder, name);
    result.freedBytes += bytesUnder(path);
    rmSync(path, { recursive: true, force: true });
    result.removed.push(path);
  }
}

/**
 * Removes from `sourceDir` (the llama.cpp clone) and `buildFolder` (the
 * finished local build) everything the build does not run with. Refuses a
 * build folder without `buildDone.status` and `Release/`: an unfinished build
 * is left as it is.
 */
export function pruneLocalBuild(sourceDir: string, buildFolder: string): PruneResult {
  const entries = new Set(readdirSync(buildFolder));
  if (!BUILD_ENTRIES_KEPT.every((name) => entries.has(name))) return { removed: [], freedBytes: 0 };
  const result: PruneResult = { removed: [], freedBytes: 0 };
  pruneFolder(sourceDir, SOURCE_ENTRIES_KEPT, result);
  pruneFolder(buildFolder, BUILD_ENTRIES_KEPT, result);
  return result;
}
