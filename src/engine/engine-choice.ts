/**
 * Which engine runs models: `engine.backend` (`--engine`, EDGELM_ENGINE) is
 * node-llama-cpp, llama-server, or auto — llama-server when one is configured
 * (`engine.llama_server`, `--llama-server`, EDGELM_LLAMA_SERVER) or built by
 * `edgelm engine build`, else node-llama-cpp. A llama-server binary is checked
 * (`--version`, `--help`) before it is chosen, and one built by `engine build`
 * must also pass the smoke test on this CPU (engine-smoke-test.ts). Imports no backend.
 */
import { dirname, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import { logger } from "../log.js";
import { describeBuildIsa, findBuiltLlamaServer, readLlamaServerBuild, type LlamaServerBuildRecord } from "./engine-build.js";
import { cachedSmokeResult, describeSmokeFailure, llamaServerSmokeLoad, smokeTest } from "./engine-smoke-test.js";
import { inspectLlamaServer, type LlamaServerBinary } from "./llama-server/llama-server-binary.js";

export type EngineChoice =
  | { backend: "node-llama-cpp"; why: string }
  | { backend: "llama-server"; binary: LlamaServerBinary; source: string; why: string };

const CONFIGURED = "engine.llama_server (--llama-server, EDGELM_LLAMA_SERVER)";

/** Where a llama-server would come from, without running it: the configured path, else a finished build in EDGELM_HOME. */
export function llamaServerCandidate(config: Config): { path: string; source: string; configured: boolean } | undefined {
  if (config.engine.llama_server) return { path: config.engine.llama_server, source: CONFIGURED, configured: true };
  const built = findBuiltLlamaServer(config.home);
  return built ? { path: built.binary, source: "the llama-server built by `edgelm engine build`", configured: false } : undefined;
}

/**
 * Chooses the engine. Rejects (invalid_config) when llama-server is asked for
 * and none is available or the configured one is broken; under auto a broken
 * build from `engine build` falls back to node-llama-cpp with a warning.
 */
export async function chooseEngine(config: Config): Promise<EngineChoice> {
  const wanted = config.engine.backend;
  if (wanted === "node-llama-cpp") return { backend: "node-llama-cpp", why: "engine.backend is node-llama-cpp" };
  const candidate = llamaServerCandidate(config);
  if (!candidate) {
    if (wanted === "llama-server") {
      throw new EdgeError(
        "invalid_config",
        "engine.backend is llama-server but no llama-server is built or configured: build one with `edgelm engine build`, or pass --llama-server <path> (engine.llama_server, EDGELM_LLAMA_SERVER)",
        { param: "engine.backend" },
      );
    }
    return { backend: "node-llama-cpp", why: "auto: no llama-server is built or configured" };
  }
  try {
    const binary = await inspectLlamaServer(candidate.path, candidate.source);
    if (!candidate.configured) await requirePassingSmokeTest(candidate.path, config.home);
    return { backend: "llama-server", binary, source: candidate.source, why: `${wanted === "auto" ? "auto: " : ""}${candidate.source}` };
  } catch (error) {
    if (wanted === "llama-server" || candidate.configured) throw error;
    logger.warn(`${(error as Error).message}; using node-llama-cpp`);
    return { backend: "node-llama-cpp", why: `auto: the built llama-server does not work (${(error as Error).message})` };
  }
}

/**
 * A binary built by `engine build` is used only once it passed the smoke test
 * on this CPU (engine-smoke-test.ts; run here, a few seconds, the first time
 * this binary meets this CPU). Rejects (model_load_failed) naming what crashed.
 */
async function requirePassingSmokeTest(binary: string, home: string): Promise<void> {
  if (!cachedSmokeResult(binary, home)) logger.info(`checking the built llama-server on this CPU (first use: a few seconds): ${binary}`);
  const smoke = await smokeTest(binary, llamaServerSmokeLoad(binary), { home });
  if (!smoke.ok) {
    throw new EdgeError("model_load_failed", `the llama-server built by \`edgelm engine build\` (${binary}) fails its smoke test on this CPU: ${describeSmokeFailure(smoke.failure!)}; \`edgelm engine build --rebuild\` builds one for this CPU`, {
      details: { signal: smoke.failure!.signal },
    });
  }
}

/**
 * Which instruction sets the engine in use was built for, and why: the
 * engine.json record of a llama-server built by `engine build`; node-llama-cpp's
 * prebuilt binaries (ggml picks among its CPU variants at load) or its local build's options.
 */
export function describeEngineIsa(backend: string, engineBuild: string, config: Config): string {
  if (backend === "node-llama-cpp") {
    return /prebuilt/.test(engineBuild) ? "node-llama-cpp's prebuilt CPU binaries (built without AMX; ggml picks its CPU variant at load)" : "as its build options say (see engine)";
  }
  const candidate = llamaServerCandidate(config);
  if (!candidate) return "unknown: a llama-server not built by edgelm";
  // A configured path may still be one `engine build` made (under another EDGELM_HOME): its record sits beside it.
  const record = candidate.configured ? recordOf(candidate.path) : findBuiltLlamaServer(config.home);
  return record ? describeBuildIsa(record.isa) : "unknown: a llama-server not built by edgelm";
}

/** The engine.json of the `engine build` folder `binary` sits in (<dir>/bin/llama-server), if it is one. */
function recordOf(binary: string): LlamaServerBuildRecord | undefined {
  const record = readLlamaServerBuild(dirname(dirname(resolve(binary))));
  return record && resolve(record.binary) === resolve(binary) ? record : undefined;
}

/** One line for start-up messages, e.g. "llama-server 0.4.0-dev (…) /path (auto: …)". */
export function describeEngine(choice: EngineChoice): string {
  if (choice.backend === "node-llama-cpp") return `node-llama-cpp (${choice.why})`;
  return `llama-server ${choice.binary.version} ${choice.binary.path} (${choice.why})`;
}
