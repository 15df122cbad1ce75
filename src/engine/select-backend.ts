/** Chooses the engine backend from the configuration. */
import type { Config } from "../config/schema.js";
import { NodeLlamaCppBackend } from "./node-llama-cpp-backend.js";
import type { EngineBackend } from "./types.js";

export function selectBackend(config: Config): EngineBackend {
  return new NodeLlamaCppBackend({ gpu: config.engine.gpu, build: config.engine.node_llama_cpp_build });
}
