/**
 * What `edgelm engine build --backend node-llama-cpp` makes: node-llama-cpp
 * compiled on the device from the llama.cpp source it ships, with the explicit
 * instruction-set list that executes here (as llama-server's build: the CPU is
 * probed and the build smoke-tested, never `-march=native`, which compiles in
 * AMX kernels wherever the flags advertise it), ggml's own thread pool instead
 * of OpenMP, and a small llama.cpp patch
 * (assets/patches/llama-persistent-threadpool.diff) that keeps one thread pool
 * per context alive across graphs — node-llama-cpp attaches none, so without
 * it ggml creates and joins its worker threads for every token.
 *
 * node-llama-cpp files a build made with custom CMake options under its own
 * folder, so asking for exactly a build's options finds it, and asking for
 * none finds the prebuilt binaries: the choice stays explicit. Edgelm's builds
 * are the ones marked EDGELM_PERSISTENT_THREADPOOL=ON; their ISA options vary
 * with the CPU, so the options are read back from the build's metadata.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isaCmakeOptions } from "./isa-cmake-options.js";
import { nodeLlamaCppDirectory } from "./llama-cpp-source.js";

/** The options every edgelm build of node-llama-cpp has, besides its instruction sets (isa-cmake-options.ts). */
export const LOCAL_BUILD_BASE_OPTIONS: Readonly<Record<string, string>> = {
  GGML_OPENMP: "OFF",
  // Not a llama.cpp option: it names the build as edgelm's (and says the patch is in it).
  EDGELM_PERSISTENT_THREADPOOL: "ON",
};

/** The CMake options of a build for `features` on `arch`. */
export function localBuildCmakeOptions(features: readonly string[], arch: string): Record<string, string> {
  return { ...isaCmakeOptions(features, arch), ...LOCAL_BUILD_BASE_OPTIONS };
}

/** One of edgelm's node-llama-cpp builds in node-llama-cpp's localBuilds folder. */
export interface LocalNodeLlamaCppBuild {
  folder: string;
  cmakeOptions: Record<string, string>;
  /** The addon it loads (its bytes key the smoke-test cache). */
  addon: string;
}

/** The llama.cpp patch applied before compiling (a few lines in llama-context.cpp/.h). */
export const PERSISTENT_THREADPOOL_PATCH = fileURLToPath(new URL("../../../assets/patches/llama-persistent-threadpool.diff", import.meta.url));

/**
 * node-llama-cpp's build folder holding edgelm's on-device build, when there is a
 * finished one whose source clone is still beside it (a build in progress has no
 * buildDone.status yet: looking only at files keeps other commands from waiting on its lock).
 */
export function findLocalNodeLlamaCppBuild(): LocalNodeLlamaCppBuild | undefined {
  return localNodeLlamaCppBuilds({ finished: true })[0];
}

/**
 * Edgelm's builds in node-llama-cpp's localBuilds folder, newest first: finished
 * ones (buildDone.status, the source clone's grammars beside them) or all.
 */
export function localNodeLlamaCppBuilds(options: { finished: boolean }): LocalNodeLlamaCppBuild[] {
  // node-llama-cpp reads a local build's grammars (JSON schema, json_object) from the source clone it
  // was built from: without it, the build loads but every grammar request fails. Such a build is not usable.
  if (options.finished && !existsSync(join(nodeLlamaCppDirectory(), "llama", "llama.cpp", "grammars"))) return [];
  const root = join(nodeLlamaCppDirectory(), "llama", "localBuilds");
  let folders: string[];
  try {
    folders = readdirSync(root);
  } catch {
    return [];
  }
  const builds: Array<LocalNodeLlamaCppBuild & { at: number }> = [];
  for (const name of folders) {
    const folder = join(root, name);
    const done = join(folder, "buildDone.status");
    if (options.finished && !existsSync(done)) continue;
    const metadata = join(folder, "Release", "_nlcBuildMetadata.json");
    try {
      const data = JSON.parse(readFileSync(metadata, "utf8")) as { buildOptions?: { customCmakeOptions?: Record<string, string> } };
      const custom = data.buildOptions?.customCmakeOptions ?? {};
      if (custom.EDGELM_PERSISTENT_THREADPOOL !== "ON") continue;
      builds.push({ folder, cmakeOptions: custom, addon: join(folder, "Release", "llama-addon.node"), at: existsSync(done) ? statSync(done).mtimeMs : 0 });
    } catch {
      // not one of ours, or unfinished (no metadata yet)
    }
  }
  return builds.sort((a, b) => b.at - a.at).map(({ at: _at, ...build }) => build);
}

