/**
 * `edgelm engine build --backend trainer`: llama.cpp's trainer
 * (`llama-finetune`, examples/training) compiled on the device from the source
 * node-llama-cpp ships, like llama-server (engine-build.ts): the same CMake
 * options plus the examples, the same probed instruction sets and step-down
 * ladder, into EDGELM_HOME/engines/llama.cpp-<commit>-trainer/. Its smoke test
 * is a real fine-tuning run: one epoch of a small F32 model on a short text.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { EdgeError } from "../errors.js";
import { readGguf } from "../gguf/gguf-reader.js";
import { writeF32Copy } from "../gguf/f32-tensors.js";
import { describeIsaProbe, probeCpuIsa } from "./cpu-isa-probe.js";
import { firstSetThatRuns, LLAMA_SERVER_CMAKE_OPTIONS, type IsaChoice } from "./engine-build.js";
import { isCrashSignal, smokeModels, type SmokeResult } from "./engine-smoke-test.js";
import { describeIsaSet, isaCmakeOptions, saferIsaSets } from "./isa-cmake-options.js";
import { checkBuildTools, cloneLlamaCpp, cmakeBuild, llamaCppBundleCommit } from "./llama-cpp-source.js";
import { runTrainer } from "./trainer-run.js";

/** llama-server's options, with the examples (where the trainer lives) and without the server. */
export const TRAINER_CMAKE_OPTIONS: Readonly<Record<string, string>> = {
  ...LLAMA_SERVER_CMAKE_OPTIONS,
  LLAMA_BUILD_EXAMPLES: "ON",
  LLAMA_BUILD_SERVER: "OFF",
};

export const TRAINER_TARGET = "llama-finetune";

/** What engine.json in the trainer's folder records (written last: a folder without it is unfinished). */
export interface TrainerBuildRecord {
  backend: "trainer";
  binary: string;
  commit: string;
  cmakeOptions: Record<string, string>;
  isa: IsaChoice;
  builtAt: string;
  seconds: number;
}

export interface TrainerBuildOptions {
  /** EDGELM_HOME. */
  home: string;
  /** Parallel compile jobs (default 2). */
  jobs?: number;
  /** Build again even when a finished build exists. Default false. */
  rebuild?: boolean;
  /** Keep the source and object files (a rebuild then takes seconds). Default false. */
  keepSources?: boolean;
  onLine?: (line: string) => void;
  onStatus?: (line: string) => void;
  signal?: AbortSignal;
}

export function trainerBuildDirectory(home: string, commit = llamaCppBundleCommit()): string {
  return join(home, "engines", `llama.cpp-${commit.slice(0, 12)}-trainer`);
}

/** The finished trainer build for the bundled llama.cpp commit, if there is one and its binary exists. */
export function findTrainer(home: string): TrainerBuildRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(join(trainerBuildDirectory(home), "engine.json"), "utf8")) as TrainerBuildRecord;
    return record.backend === "trainer" && typeof record.binary === "string" && existsSync(record.binary) ? record : undefined;
  } catch {
    return undefined;
  }
}

export function describeTrainerBuild(record: TrainerBuildRecord): string {
  return `llama-finetune, llama.cpp ${record.commit.slice(0, 12)} (ISA ${describeIsaSet(record.isa.features)} — ${record.isa.why})`;
}

/** A text of ASCII sentences for the smoke run (the smoke model's vocabulary is bytes: one token per character). */
const SMOKE_TEXT = "Once upon a time there was a small robot. It liked to count the stars. ".repeat(8);

/**
 * The trainer's smoke test: an F32 copy of the F16 smoke model (engine-smoke-test.ts), one epoch on a short
 * text. A crash (SIGILL, SIGSEGV, ...) is a failed test (the ladder steps down); any other failure is an error.
 */
async function trainerSmoke(binary: string, home: string, signal?: AbortSignal): Promise<SmokeResult> {
  const started = performance.now();
  const f16 = (await smokeModels(home)).find((m) => m.type === "f16")!;
  const dir = join(home, "cache", "smoke-models");
  const f32 = join(dir, "trainer-smoke-f32.gguf");
  if (!existsSync(f32)) await writeF32Copy(f16.path, readGguf(f16.path), f32);
  const textFile = join(dir, "trainer-smoke.txt");
  writeFileSync(textFile, SMOKE_TEXT);
  const output = join(dir, `trainer-smoke-out-${process.pid}.gguf`);
  const result = (failure?: SmokeResult["failure"]): SmokeResult => ({
    ok: failure === undefined,
    types: ["f32"],
    ...(failure ? { failure } : {}),
    seconds: Math.round((performance.now() - started) / 100) / 10,
    checkedAt: new Date().toISOString(),
  });
  try {
    await runTrainer({
      binary, model: f32, textFile, output, contextSize: 64, epochs: 1, learningRate: 1e-4, validationSplit: 0.1, optimizer: "adamw",
      threads: Math.min(2, availableParallelism()), ...(signal ? { signal } : {}),
    });
    readGguf(output); // the trainer wrote a readable model
    return result();
  } catch (error) {
    const crash = (error as EdgeError).details?.signal;
    if (typeof crash === "string" && isCrashSignal(crash)) return result({ type: "f32", message: (error as Error).message, signal: crash });
    throw error;
  } finally {
    rmSync(output, { force: true });
  }
}

/** Builds the trainer (or finds the finished build); throws an EdgeError naming a missing tool before any work starts. */
export async function buildTrainer(options: TrainerBuildOptions): Promise<{ path: string; description: string; seconds: number; alreadyBuilt: boolean }> {
  const started = performance.now();
  const status = options.onStatus ?? ((): void => undefined);
  const existing = options.rebuild ? undefined : findTrainer(options.home);
  if (existing) return { path: existing.binary, description: describeTrainerBuild(existing), seconds: 0, alreadyBuilt: true };
  checkBuildTools();
  const commit = llamaCppBundleCommit();
  const dir = trainerBuildDirectory(options.home, commit);
  const run = { ...(options.onLine ? { onLine: options.onLine } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  rmSync(join(dir, "engine.json"), { force: true });
  const probe = await probeCpuIsa();
  status(`instruction sets on this CPU (${probe.cpu}): ${describeIsaSet(probe.usable)} execute; ${describeIsaProbe(probe)}`);
  const sourceDir = join(dir, "src");
  // A clone left by an earlier build (--keep-sources, or an interrupted one) of the same commit is reused with its objects.
  if (!existsSync(join(sourceDir, "examples", "training", "finetune.cpp"))) await cloneLlamaCpp(sourceDir, run);
  const buildDir = join(dir, "build");
  const built = join(buildDir, "bin", TRAINER_TARGET);
  const ladder = await firstSetThatRuns(saferIsaSets(probe.usable, probe.arch), status, async (features) => {
    const cmakeOptions = { ...TRAINER_CMAKE_OPTIONS, ...isaCmakeOptions(features, probe.arch) };
    await cmakeBuild({ ...run, sourceDir, buildDir, targets: [TRAINER_TARGET], cmakeOptions, jobs: options.jobs ?? 2 });
    const smoke = await trainerSmoke(built, options.home, options.signal);
    return { smoke, value: cmakeOptions };
  });
  if (!ladder.passed) throw new EdgeError("internal", `no trainer build runs on this CPU (${probe.cpu}), down to no native flags: ${ladder.crashes.join("; ")}`);
  const binary = join(dir, "bin", TRAINER_TARGET);
  mkdirSync(dirname(binary), { recursive: true });
  copyFileSync(built, binary);
  chmodSync(binary, 0o755);
  if (!options.keepSources) {
    rmSync(sourceDir, { recursive: true, force: true });
    rmSync(buildDir, { recursive: true, force: true });
  }
  const record: TrainerBuildRecord = {
    backend: "trainer",
    binary,
    commit,
    cmakeOptions: ladder.passed.value,
    isa: {
      arch: probe.arch,
      cpu: probe.cpu,
      features: ladder.passed.features,
      probe: probe.results,
      why: ladder.crashes.length > 0 ? `${describeIsaProbe(probe)}; smoke test crashed with ${ladder.crashes.join("; ")}` : describeIsaProbe(probe),
    },
    builtAt: new Date().toISOString(),
    seconds: Math.round((performance.now() - started) / 1000),
  };
  writeFileSync(join(dir, "engine.json"), `${JSON.stringify(record, null, 2)}\n`);
  return { path: binary, description: describeTrainerBuild(record), seconds: record.seconds, alreadyBuilt: false };
}
