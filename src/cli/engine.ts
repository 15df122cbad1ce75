/**
 * `edgelm engine build|list`: engines compiled on this device from the llama.cpp
 * source node-llama-cpp ships, and what is built or configured.
 */
import { InvalidArgumentError, type Command } from "commander";
import { buildEngine, listEngines, llamaServerBuildDirectory, readLlamaServerBuild, type EngineKind } from "../engine/engine-build.js";
import { llamaServerCandidate } from "../engine/engine-choice.js";
import { cachedSmokeResult } from "../engine/engine-smoke-test.js";
import { buildTrainer, findTrainer } from "../engine/trainer-build.js";
import { action, commandConfig, integerFlag } from "./cli-kit.js";
import { printTable } from "./format.js";

interface BuildFlags {
  backend: EngineKind | "trainer";
  jobs?: number;
  rebuild?: boolean;
  keepSources?: boolean;
  portable?: boolean;
  config?: string;
}

/** Measured on 2 vCPUs (docs/native-runner.md): the one estimate every message gives. */
const BUILD_MINUTES: Record<EngineKind, string> = { "llama-server": "about 4 minutes on 2 idle cores", "node-llama-cpp": "7–25 minutes on 2 cores" };

function backendName(raw: string): EngineKind | "trainer" {
  if (raw === "llama-server" || raw === "node-llama-cpp" || raw === "trainer") return raw;
  throw new InvalidArgumentError(`--backend must be llama-server, node-llama-cpp or trainer (got "${raw}")`);
}

export function registerEngine(program: Command): void {
  const engine = program.command("engine").description("build engines on this device and list them");
  engine
    .command("build")
    .description("compile an engine from the llama.cpp source node-llama-cpp ships (no download; takes minutes)")
    .option("--backend <name>", "llama-server (the native runner), node-llama-cpp (an optimised in-process build) or trainer (llama.cpp's llama-finetune, for edgelm finetune)", backendName, "llama-server")
    .option("-j, --jobs <n>", "parallel compile jobs for llama-server (default 2)", integerFlag("--jobs", { min: 1, max: 256 }))
    .option("--rebuild", "build llama-server again even when this llama.cpp version is already built")
    .option("--portable", "build llama-server for a baseline instruction set (x86-64-v3 / ARMv8-A) instead of this CPU's, to run on other machines")
    .option("--keep-sources", "keep the llama.cpp source and object files of a llama-server build (about 300 MB)")
    .option("--config <file>", "config file")
    .action(action(buildCommand));
  engine
    .command("list")
    .description("show the engines installed, built on this device, or configured")
    .option("--json", "print JSON")
    .option("--config <file>", "config file")
    .action(
      action((flags: { json?: boolean; config?: string }) => {
        const config = commandConfig(flags);
        const entries = listEngines(config.home, config.engine.llama_server);
        const preference = config.engine.node_llama_cpp_build;
        const local = entries.find((e) => e.backend === "node-llama-cpp" && e.kind === "local build")!;
        const inUse = preference === "prebuilt" || (preference === "auto" && !local.available) ? "prebuilt" : "local build";
        // What engine.backend picks (without running any binary; serve and run check it with --version).
        const candidate = llamaServerCandidate(config);
        // Under auto, a build known to crash on this CPU (its smoke test failed) is not picked.
        const crashes = candidate && !candidate.configured && cachedSmokeResult(candidate.path, config.home)?.ok === false;
        const backend = config.engine.backend === "auto" ? (candidate && !crashes ? "llama-server" : "node-llama-cpp") : config.engine.backend;
        const llamaServer = backend === "llama-server" ? (candidate?.path ?? null) : null;
        if (flags.json) {
          process.stdout.write(
            `${JSON.stringify({ engines: entries, backend: config.engine.backend, backend_in_use: backend, llama_server: llamaServer, node_llama_cpp_build: preference, node_llama_cpp_in_use: inUse }, null, 2)}\n`,
          );
          return;
        }
        const rows = [["backend", "kind", "available", "engine"]];
        for (const e of entries) {
          const used = e.backend === "node-llama-cpp" && e.kind === inUse ? " (used)" : "";
          rows.push([e.backend, e.kind, e.available ? `yes${used}` : "no", `${e.description}${e.path ? `  ${e.path}` : ""}`]);
        }
        printTable(process.stdout, rows, "");
        process.stdout.write(`\nnode-llama-cpp build: ${preference} (engine.node_llama_cpp_build / EDGELM_NODE_LLAMA_CPP_BUILD)\n`);
        process.stdout.write(
          `engine: ${config.engine.backend} → ${backend}${llamaServer ? ` (${llamaServer})` : backend === "llama-server" ? " (none built or configured: run `edgelm engine build`)" : ""} (engine.backend / --engine / EDGELM_ENGINE)\n`,
        );
      }),
    );
}

async function buildCommand(flags: BuildFlags): Promise<void> {
  const config = commandConfig(flags, {}, "warn");
  const tty = process.stderr.isTTY === true;
  if (flags.backend === "trainer") return buildTrainerCommand(flags, config.home, tty);
  if (flags.backend === "node-llama-cpp" || flags.rebuild || !readLlamaServerBuild(llamaServerBuildDirectory(config.home, undefined, flags.portable === true))) {
    process.stderr.write(`building ${flags.backend} from the bundled llama.cpp source; this takes ${BUILD_MINUTES[flags.backend]}, longer when they are busy…\n`);
  }
  const result = await buildEngine({
    backend: flags.backend,
    home: config.home,
    ...(flags.jobs !== undefined ? { jobs: flags.jobs } : {}),
    ...(flags.rebuild ? { rebuild: true } : {}),
    ...(flags.keepSources ? { keepSources: true } : {}),
    onStatus: (line: string) => process.stderr.write(`${tty ? "\r\x1b[K" : ""}${line}\n`),
    ...(flags.portable ? { portable: true } : {}),
    ...(tty ? { onLine: buildStepLine() } : {}),
  });
  if (tty) process.stderr.write("\r\x1b[K");
  if (result.alreadyBuilt) {
    process.stdout.write(`llama-server for this llama.cpp version is already built (--rebuild to build it again): ${result.description}\n  ${result.path}\n`);
    return;
  }
  process.stdout.write(`built ${result.description} in ${Math.floor(result.seconds / 60)}m${String(result.seconds % 60).padStart(2, "0")}s\n  ${result.path}\n`);
  if (result.backend === "node-llama-cpp") {
    process.stdout.write(
      "edgelm now uses this build for node-llama-cpp (engine.node_llama_cpp_build: auto); set it to prebuilt to go back, and compare with `edgelm bench`\n",
    );
  }
}

/** A build's output lines as one status line on the terminal: CMake/ninja's step ("[ 42%]" or "[123/277]") and what it builds. */
function buildStepLine(): (line: string) => void {
  let lastStep = "";
  return (line) => {
    const step = /^\[\s*(\d+%|\d+\/\d+)\]/.exec(line)?.[1];
    if (step && step !== lastStep) {
      lastStep = step;
      process.stderr.write(`\r\x1b[K  ${step} ${line.replace(/^\[[^\]]*\]\s*/, "").slice(0, 60)}`);
    }
  };
}

/** `engine build --backend trainer`: llama.cpp's trainer for `edgelm finetune` (src/engine/trainer-build.ts). */
async function buildTrainerCommand(flags: BuildFlags, home: string, tty: boolean): Promise<void> {
  if (flags.rebuild || !findTrainer(home)) {
    process.stderr.write("building llama.cpp's trainer (llama-finetune) from the bundled source; this takes about as long as llama-server, longer when the cores are busy…\n");
  }
  const result = await buildTrainer({
    home,
    ...(flags.jobs !== undefined ? { jobs: flags.jobs } : {}),
    ...(flags.rebuild ? { rebuild: true } : {}),
    ...(flags.keepSources ? { keepSources: true } : {}),
    onStatus: (line: string) => process.stderr.write(`${tty ? "\r\x1b[K" : ""}${line}\n`),
    ...(tty ? { onLine: buildStepLine() } : {}),
  });
  if (tty) process.stderr.write("\r\x1b[K");
  if (result.alreadyBuilt) {
    process.stdout.write(`the trainer for this llama.cpp version is already built (--rebuild to build it again): ${result.description}\n  ${result.path}\n`);
    return;
  }
  process.stdout.write(`built ${result.description} in ${Math.floor(result.seconds / 60)}m${String(result.seconds % 60).padStart(2, "0")}s\n  ${result.path}\n`);
}
