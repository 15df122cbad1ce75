/**
 * The runner factory a gateway uses: node-llama-cpp child processes or
 * llama-server children, by the same rule as every other command
 * (engine-choice.ts). Loads neither engine into the gateway process.
 */
import type { Config } from "../config/schema.js";
import { chooseEngine, type EngineChoice } from "./engine-choice.js";
import { LlamaServerRunnerFactory } from "./llama-server/llama-server-runner.js";
import { logger } from "../log.js";
import { pinNodeLlamaCppBuild } from "./local-build-choice.js";
import type { RunnerFactory } from "./runner.js";
import { describeProtection, RunnerSandbox } from "./sandbox/runner-sandbox.js";
import { ChildProcessRunnerFactory } from "./runners/child-process-runner.js";

/** The factory for `choice` (default: chosen from `config` now). */
export async function selectRunnerFactory(config: Config, choice?: EngineChoice): Promise<RunnerFactory> {
  choice ??= await chooseEngine(config);
  const startTimeoutMs = config.server.runner_start_timeout_ms;
  const sandbox = configuredSandbox(config);
  if (choice.backend === "llama-server") {
    return new LlamaServerRunnerFactory({ binary: choice.binary.path, binarySource: choice.source, startTimeoutMs, ...(sandbox ? { sandbox } : {}) });
  }
  const build = await pinNodeLlamaCppBuild(config.engine.node_llama_cpp_build, config.home);
  return new ChildProcessRunnerFactory({ startTimeoutMs, build, ...(sandbox ? { sandbox } : {}) });
}

/**
 * The runner sandbox `engine.sandbox` asks for, checked against this machine
 * (undefined for mode off: plain child processes); says (info) what every
 * runner gets and what is missing with why.
 */
export function configuredSandbox(config: Config): RunnerSandbox | undefined {
  const section = config.engine.sandbox;
  if (section.mode === "off") {
    logger.info("runner sandbox: off (engine.sandbox.mode); runners run as plain child processes with the gateway's user, network and files");
    return undefined;
  }
  const sandbox = RunnerSandbox.create({
    mode: section.mode,
    user: section.user,
    memoryHeadroomBytes: section.memory_headroom_mb * 2 ** 20,
    openFiles: section.open_files,
    processes: section.processes,
    hiddenPaths: [config.home, ...(config.trust.local_key ? [config.trust.local_key] : [])],
  });
  logger.info(`runner sandbox (engine.sandbox.mode ${section.mode}): ${describeProtection(sandbox.describe())}`);
  return sandbox;
}
