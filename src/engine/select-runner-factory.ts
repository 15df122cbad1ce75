/**
 * The runner factory a gateway uses: node-llama-cpp child processes or
 * llama-server children, by the same rule as every other command
 * (engine-choice.ts). Loads neither engine into the gateway process.
 */
import type { Config } from "../config/schema.js";
import { chooseEngine, type EngineChoice } from "./engine-choice.js";
import { LlamaServerRunnerFactory } from "./llama-server/llama-server-runner.js";
import type { RunnerFactory } from "./runner.js";
import { ChildProcessRunnerFactory } from "./runners/child-process-runner.js";

/** The factory for `choice` (default: chosen from `config` now). */
export async function selectRunnerFactory(config: Config, choice?: EngineChoice): Promise<RunnerFactory> {
  choice ??= await chooseEngine(config);
  const startTimeoutMs = config.server.runner_start_timeout_ms;
  if (choice.backend === "llama-server") {
    return new LlamaServerRunnerFactory({ binary: choice.binary.path, binarySource: choice.source, startTimeoutMs });
  }
  return new ChildProcessRunnerFactory({ startTimeoutMs });
}
