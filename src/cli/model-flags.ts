/** Flags for commands that load a model: context, threads, engine. */
import { InvalidArgumentError, type Command } from "commander";
import type { ConfigInput } from "../config/schema.js";
import { integerFlag } from "./cli-kit.js";

export interface ModelFlagValues {
  model?: string;
  ctx?: number;
  threads?: number;
  promptThreads?: number;
  reverify?: boolean;
  /** Measure the thread choice again (run, bench). */
  retune?: boolean;
  engine?: EngineName;
  llamaServer?: string;
  config?: string;
}

export type EngineName = "auto" | "node-llama-cpp" | "llama-server";

/** A commander parser for `--engine`. */
export function engineName(raw: string): EngineName {
  if (raw === "auto" || raw === "node-llama-cpp" || raw === "llama-server") return raw;
  throw new InvalidArgumentError(`--engine must be auto, node-llama-cpp or llama-server (got "${raw}")`);
}

/** `--engine` and `--llama-server`, for every command that loads a model. */
export function addEngineFlags(command: Command): Command {
  return command
    .option("--engine <name>", "auto (llama-server when one is built or configured, else node-llama-cpp), node-llama-cpp or llama-server", engineName)
    .option("--llama-server <path>", "the llama-server binary for the llama-server engine (default: the one `edgelm engine build` made)");
}

export function addModelFlags(command: Command): Command {
  return addEngineFlags(command)
    .option("-m, --model <ref>", "model: a path, hf:owner/repo/file.gguf, or a name such as smollm2:360m (default: the built-in demo)")
    .option("-c, --ctx <tokens>", "context size in tokens (default: the model's, at most 4096)", integerFlag("--ctx", { min: 16, max: 1 << 20 }))
    .option("--threads <n>", "decode threads (default: tuned by measurement)", integerFlag("--threads", { min: 1, max: 1024 }))
    .option("--prompt-threads <n>", "prompt-processing threads (default: as --threads)", integerFlag("--prompt-threads", { min: 1, max: 1024 }))
    .option("--retune", "measure the thread choice again instead of using the cached one")
    .option("--reverify", "re-hash the model files even when the verified-hash cache vouches for them")
    .option("--config <file>", "config file (default: ./edgelm.yaml, then $EDGELM_HOME/config.yaml)");
}

/** The part of the config that these flags set (engine, and store.reverify). */
export function engineFlags(values: ModelFlagValues): ConfigInput {
  const engine: Record<string, unknown> = {};
  if (values.ctx !== undefined) engine.context_size = values.ctx;
  if (values.threads !== undefined || values.promptThreads !== undefined) {
    engine.threads = {
      ...(values.threads !== undefined ? { decode: values.threads } : {}),
      ...(values.promptThreads !== undefined ? { prompt: values.promptThreads } : {}),
    };
  }
  if (values.engine !== undefined) engine.backend = values.engine;
  if (values.llamaServer !== undefined) engine.llama_server = values.llamaServer;
  const flags: Record<string, unknown> = Object.keys(engine).length > 0 ? { engine } : {};
  if (values.reverify) flags.store = { reverify: true };
  return flags as ConfigInput;
}

/** On a terminal, one line on stderr while threads are measured (once per model, machine and engine build). */
export function threadTuningNotice(enabled = process.stderr.isTTY === true): { onThreadTuning?: () => void } {
  return enabled ? { onThreadTuning: () => void process.stderr.write("measuring the best thread counts for this model on this machine (once)…\n") } : {};
}
