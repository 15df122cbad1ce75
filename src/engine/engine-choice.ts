/**
 * Which engine runs models: `engine.backend` (`--engine`, EDGELM_ENGINE) is
 * node-llama-cpp, llama-server, or auto — llama-server when one is configured
 * (`engine.llama_server`, `--llama-server`, EDGELM_LLAMA_SERVER) or built by
 * `edgelm engine build`, else node-llama-cpp. A llama-server binary is checked
 * (`--version`, `--help`) before it is chosen. Imports no backend.
 */
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import { logger } from "../log.js";
import { findBuiltLlamaServer } from "./engine-build.js";
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
    return { backend: "llama-server", binary, source: candidate.source, why: `${wanted === "auto" ? "auto: " : ""}${candidate.source}` };
  } catch (error) {
    if (wanted === "llama-server" || candidate.configured) throw error;
    logger.warn(`${(error as Error).message}; using node-llama-cpp`);
    return { backend: "node-llama-cpp", why: "auto: the built llama-server does not work" };
  }
}

/** One line for start-up messages, e.g. "llama-server 0.4.0-dev (…) /path (auto: …)". */
export function describeEngine(choice: EngineChoice): string {
  if (choice.backend === "node-llama-cpp") return `node-llama-cpp (${choice.why})`;
  return `llama-server ${choice.binary.version} ${choice.binary.path} (${choice.why})`;
}
