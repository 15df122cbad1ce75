/**
 * The llama.cpp runtime node-llama-cpp gives this process: one per GPU and
 * build choice (prebuilt, the on-device build, or exact CMake options), loaded
 * once and shared by every model, never compiled on the fly; and llama.cpp's
 * log, where a failed load leaves its reason.
 */
import { getLlama, getModuleVersion, LlamaLogLevel, type Llama } from "node-llama-cpp";
import { EdgeError } from "../errors.js";
import { logger } from "../log.js";
import { localBuildForAuto } from "./local-build-choice.js";
import { findLocalNodeLlamaCppBuild } from "./local-build-profile.js";

export interface NodeLlamaCppOptions {
  /** "auto" uses a GPU when node-llama-cpp finds one; false forces CPU. Default false. */
  gpu?: "auto" | false;
  /**
   * Which llama.cpp binaries: "prebuilt" (shipped with node-llama-cpp), "local"
   * (the on-device build `edgelm engine build --backend node-llama-cpp` makes),
   * or "auto" (local when it exists, else prebuilt). Default "auto".
   */
  build?: "auto" | "prebuilt" | "local";
  /**
   * Load exactly the local node-llama-cpp build made with these CMake options
   * (`npx node-llama-cpp source build` with NODE_LLAMA_CPP_CMAKE_OPTION_*), instead
   * of `build`: for comparing builds in benchmarks.
   */
  cmakeOptions?: Record<string, string>;
}

export interface Runtime {
  llama: Llama;
  build: string;
}

const runtimes = new Map<string, Promise<Runtime>>();

/** llama.cpp's recent model-load errors: a failed load reports its reason here, not in the thrown error. */
export const loadErrors: string[] = [];

function llamaLogger(level: LlamaLogLevel, message: string): void {
  const text = message.trim();
  if (!text) return;
  if ((level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) && /llama_model_load|error loading model|failed to load model/.test(text)) {
    // Surfaced once, in the load's own error message (see classifyLoadError).
    loadErrors.push(text);
    if (loadErrors.length > 8) loadErrors.shift();
    logger.debug(`llama.cpp: ${text}`);
    return;
  }
  if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) logger.warn(`llama.cpp: ${text}`);
  else logger.debug(`llama.cpp: ${text}`);
}

async function loadLlama(gpu: "auto" | false, localOptions: Readonly<Record<string, string>> | undefined): Promise<Llama> {
  return getLlama({
    gpu,
    // Never compile in the middle of a command: prebuilt binaries or a build made by `edgelm engine build`.
    build: "never",
    ...(localOptions ? { cmakeOptions: { ...localOptions }, usePrebuiltBinaries: false } : {}),
    progressLogs: false,
    // maxThreads 0: every context uses exactly the threads it asks for.
    maxThreads: 0,
    logLevel: LlamaLogLevel.warn,
    logger: llamaLogger,
  });
}

async function describeBuild(llama: Llama): Promise<string> {
  const version = await getModuleVersion().catch(() => "?");
  const options = Object.entries(llama.cmakeOptions)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  const kind = llama.buildType === "prebuilt" ? "prebuilt" : `local build${options ? ` (${options})` : ""}`;
  return `node-llama-cpp ${version} ${kind}, llama.cpp ${llama.llamaCppRelease.release}`;
}

/** The shared llama.cpp runtime for a GPU and build choice. Never compiles anything. */
export function getRuntime(gpu: "auto" | false, build: "auto" | "prebuilt" | "local", cmakeOptions?: Record<string, string>): Promise<Runtime> {
  const key = `${gpu}:${build}:${JSON.stringify(cmakeOptions ?? null)}`;
  let runtime = runtimes.get(key);
  if (runtime) return runtime;
  runtime = (async () => {
    let llama: Llama | undefined;
    if (cmakeOptions) {
      llama = await loadLlama(gpu, cmakeOptions);
    } else if (build === "local") {
      // Pinned to the local build: no smoke test (the smoke test itself runs this way), a clear error when there is none.
      const local = findLocalNodeLlamaCppBuild();
      try {
        // A build whose source clone is gone would load, then fail every grammar: not usable (see findLocalNodeLlamaCppBuild).
        if (!local) throw new Error("none is finished, or the llama.cpp source folder it reads grammars from is gone");
        llama = await loadLlama(gpu, local.cmakeOptions);
      } catch (error) {
        throw new EdgeError(
          "model_load_failed",
          `no usable on-device node-llama-cpp build (${errorText(error)}); make one with \`edgelm engine build --backend node-llama-cpp\` or use engine.node_llama_cpp_build: prebuilt`,
        );
      }
    } else if (build === "auto") {
      const local = await localBuildForAuto();
      if (local) llama = await loadLlama(gpu, local.cmakeOptions).catch(() => undefined);
    }
    llama ??= await loadLlama(gpu, undefined);
    return { llama, build: await describeBuild(llama) };
  })().catch((error: unknown) => {
    runtimes.delete(key);
    if (error instanceof EdgeError) throw error;
    throw new EdgeError("model_load_failed", `cannot start llama.cpp: ${errorText(error)}`);
  });
  runtimes.set(key, runtime);
  return runtime;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
