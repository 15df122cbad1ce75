/**
 * What of a model's weights an engine keeps resident, per engine: which CPU
 * features its ggml really uses (an AMX buffer only in a build with AMX), and
 * whether it maps the file or reads it (`engine.mmap`).
 *
 * Mapping keeps the weights as file pages, shared between runners and
 * reclaimable — right when the engine computes from them. But the matrices
 * llama.cpp repacks (cpu-repack.ts) are read once at load into an anonymous
 * copy; with the file mapped, their pages stay resident too and a memory cap
 * counts them until the kernel reclaims them (a 7B Q4_0 on node-llama-cpp:
 * 4.5 GB anonymous + 4.0 GB of mapped file). Reading the file instead leaves
 * one copy of every weight. So `auto` maps a model only when nothing of it is
 * repacked on this engine and CPU.
 */
import { dirname } from "node:path";
import { readCpuFeatures, repackedWeightBytes, type CpuFeatures } from "../gguf/cpu-repack.js";
import type { GgufFile } from "../gguf/gguf-reader.js";
import { chooseMmap, type MmapSetting } from "../gguf/memory-estimate.js";
import type { Config } from "../config/schema.js";
import { readLlamaServerBuild } from "./engine-build.js";
import { llamaServerCandidate } from "./engine-choice.js";

export type BackendName = "node-llama-cpp" | "llama-server";

/** The engine a model runs on, as far as its memory goes. */
export interface EngineResidency {
  backend: BackendName;
  /** The llama-server binary (its build record says whether it has AMX). Absent: assume the CPU's features. */
  llamaServer?: string;
  /** `engine.mmap`. Default auto. */
  mmap?: MmapSetting;
}

/**
 * The CPU features the engine's ggml uses here. node-llama-cpp's prebuilt binaries pick the variant for this CPU
 * (AMX included where advertised); a llama-server that `engine build` made has AMX only when its build kept it
 * (a build whose AMX kernels crashed here leaves it out). An unknown binary is assumed to use what the CPU has,
 * which can only overstate its memory.
 */
export function engineCpuFeatures(engine: EngineResidency, cpu: CpuFeatures = readCpuFeatures()): CpuFeatures {
  if (engine.backend !== "llama-server" || !engine.llamaServer || !cpu.amx) return cpu;
  const record = readLlamaServerBuild(dirname(dirname(engine.llamaServer)));
  if (!record) return cpu;
  return { ...cpu, amx: record.cmakeOptions.GGML_AMX_INT8 === "ON" };
}

/** The mmap choice for a model file on an engine (see the module comment). */
export function modelUsesMmap(file: GgufFile, engine: EngineResidency): boolean {
  return chooseMmap(engine.mmap, repackedWeightBytes(file, engineCpuFeatures(engine)));
}

/** The residency of `backend` as `config` sets it up (engine.mmap, the llama-server binary it would run). */
export function configuredResidency(config: Config, backend: BackendName): EngineResidency {
  const llamaServer = backend === "llama-server" ? llamaServerCandidate(config)?.path : undefined;
  return { backend, mmap: config.engine.mmap, ...(llamaServer ? { llamaServer } : {}) };
}
