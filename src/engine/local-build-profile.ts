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
import { fileURLToPath } from "node:url";

export const LOCAL_BUILD_CMAKE_OPTIONS: Readonly<Record<string, string>> = {
  GGML_NATIVE: "ON",
  GGML_OPENMP: "OFF",
  // Not a llama.cpp option: it only names the build (and says the patch is in it).
  EDGELM_PERSISTENT_THREADPOOL: "ON",
};

/** The llama.cpp patch applied before compiling (a few lines in llama-context.cpp/.h). */
export const PERSISTENT_THREADPOOL_PATCH = fileURLToPath(new URL("../../../assets/patches/llama-persistent-threadpool.diff", import.meta.url));
