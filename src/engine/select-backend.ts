/** Chooses the engine backend that loads models in this process (run, bench, eval) from the configuration. */
import type { Config } from "../config/schema.js";
import { chooseEngine } from "./engine-choice.js";
import { LlamaServerBackend } from "./llama-server/llama-server-runner.js";
import { NodeLlamaCppBackend } from "./node-llama-cpp-backend.js";
import type { EngineBackend } from "./types.js";

/** node-llama-cpp in this process, or a llama-server child process (see engine-choice.ts for the rule). */
export async function selectBackend(config: Config): Promise<EngineBackend> {
  const choice = await chooseEngine(config);
  if (choice.backend === "llama-server") {
    return new LlamaServerBackend({ binary: choice.binary.path, binarySource: choice.source, startTimeoutMs: config.server.runner_start_timeout_ms });
  }
  return new NodeLlamaCppBackend({ gpu: config.engine.gpu, build: config.engine.node_llama_cpp_build });
}
