/**
 * What `edgelm engine build --backend node-llama-cpp` makes: node-llama-cpp
 * compiled on the device from the llama.cpp source it ships, with native CPU
 * flags, ggml's own thread pool instead of OpenMP, and a small llama.cpp patch
 * (assets/patches/llama-persistent-threadpool.diff) that keeps one thread pool
 * per context alive across graphs — node-llama-cpp attaches none, so without
 * it ggml creates and joins its worker threads for every token.
 *
 * node-llama-cpp files a build made with custom CMake options under its own
 * folder, so asking for exactly these options finds this build, and asking for
 * none finds the prebuilt binaries: the choice stays explicit.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeLlamaCppDirectory } from "./llama-cpp-source.js";

export const LOCAL_BUILD_CMAKE_OPTIONS: Readonly<Record<string, string>> = {
  GGML_NATIVE: "ON",
  GGML_OPENMP: "OFF",
  // Not a llama.cpp option: it only names the build (and says the patch is in it).
  EDGELM_PERSISTENT_THREADPOOL: "ON",
};

/** The llama.cpp patch applied before compiling (a few lines in llama-context.cpp/.h). */
export const PERSISTENT_THREADPOOL_PATCH = fileURLToPath(new URL("../../../assets/patches/llama-persistent-threadpool.diff", import.meta.url));

/**
 * node-llama-cpp's build folder holding edgelm's on-device build, when there is a
 * finished one whose source clone is still beside it (a build in progress has no
 * buildDone.status yet: looking only at files keeps other commands from waiting on its lock).
 */
export function findLocalNodeLlamaCppBuild(): { folder: string; cmakeOptions: Record<string, string> } | undefined {
  // node-llama-cpp reads a local build's grammars (JSON schema, json_object) from the source clone it
  // was built from: without it, the build loads but every grammar request fails. Such a build is not usable.
  if (!existsSync(join(nodeLlamaCppDirectory(), "llama", "llama.cpp", "grammars"))) return undefined;
  const root = join(nodeLlamaCppDirectory(), "llama", "localBuilds");
  let folders: string[];
  try {
    folders = readdirSync(root);
  } catch {
    return undefined;
  }
  for (const name of folders) {
    const folder = join(root, name);
    if (!existsSync(join(folder, "buildDone.status"))) continue;
    const metadata = join(folder, "Release", "_nlcBuildMetadata.json");
    try {
      const data = JSON.parse(readFileSync(metadata, "utf8")) as { buildOptions?: { customCmakeOptions?: Record<string, string> } };
      const custom = data.buildOptions?.customCmakeOptions ?? {};
      const wanted = Object.entries(LOCAL_BUILD_CMAKE_OPTIONS);
      if (wanted.every(([k, v]) => custom[k] === v) && Object.keys(custom).length === wanted.length) return { folder, cmakeOptions: custom };
    } catch {
      // not one of ours, or unfinished
    }
  }
  return undefined;
}

