/**
 * The fit planner: before `edgelm serve` loads anything, each served model's
 * estimated resident memory (memory-estimate.ts, times its runners, plus each
 * runner process's own baseline) is checked against what this machine leaves —
 * or its cgroup memory limit, in a container or a unit with `MemoryMax=`.
 * A model that does not fit is replaced by its largest store variant that
 * does (`server.memory_fit: variant`); when none does, serve stops with
 * `insufficient_memory` naming the figures.
 */
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import { readGguf } from "../gguf/gguf-reader.js";
import { summarizeGguf } from "../gguf/gguf-summary.js";
import { estimateMemory } from "../gguf/memory-estimate.js";
import { adapterSequences } from "../engine/node-llama-cpp-adapter-contexts.js";
import { engineCpuFeatures, type EngineResidency } from "../engine/weight-residency.js";
import type { VariantFinder } from "../ops/policy-target.js";
import { readSystemMemory, type SystemMemory } from "../ops/system-memory.js";
import type { ServedModelSpec } from "../scheduler/model-pool.js";
import { resolveModel } from "../store/resolve-model.js";

/**
 * What one runner process holds besides the model (its program, libraries and heap: a node-llama-cpp runner
 * is a Node child with the addon loaded), in bytes. Fitted so that the estimate lands within 10% of the
 * runners' measured resident size on a 135M Q4_0 and a 360M Q8_0 shape (test/server/memory-estimate-measured.test.ts).
 */
export const RUNNER_BASELINE_BYTES: Readonly<Record<"node-llama-cpp" | "llama-server", number>> = {
  "node-llama-cpp": 104 * 1024 * 1024,
  "llama-server": 4 * 1024 * 1024,
};

/**
 * The gateway process itself when idle, serving: Node, fastify, the metrics registry (measured in the
 * container image: docs/deployment.md), in bytes. What a memory limit must hold besides the runners.
 */
export const GATEWAY_BASELINE_BYTES = 96 * 1024 * 1024;

export interface ModelFit {
  /** The served name. */
  name: string;
  /** The reference asked for. */
  wanted: string;
  /** The reference that will be served (a variant when the wanted one did not fit). */
  ref: string;
  /** Estimated resident bytes of the served reference, all runners together. */
  estimateBytes: number;
  /** One line for the log. */
  reason: string;
}

export interface MemoryFitPlan {
  specs: ServedModelSpec[];
  fits: ModelFit[];
  /** Bytes the plan may use: available memory (or what the cgroup limit leaves) less the headroom. */
  budgetBytes: number;
  memory: SystemMemory;
}

export interface MemoryFitOptions {
  /** The runner engine: its per-process baseline, the CPU features its ggml uses, whether it maps the file. */
  engine: EngineResidency;
  /** Store variants (default: none; serve passes the store's). */
  variants?: VariantFinder;
  /** Memory figures (default: readSystemMemory(), which honours the cgroup limit). */
  memory?: SystemMemory;
}

const mib = (bytes: number): string => `${Math.round(bytes / (1024 * 1024))} MiB`;

function describeMemory(memory: SystemMemory): string {
  return memory.limitBytes !== undefined
    ? `the ${memory.source} memory limit of ${mib(memory.limitBytes)} leaves ${mib(memory.availableBytes)}`
    : `${mib(memory.availableBytes)} is available of ${mib(memory.totalBytes)}`;
}

/**
 * Estimated resident bytes of serving `path` as `spec` describes (all its runners) on `engine`. A model with
 * selectable adapters on node-llama-cpp counts one adapter context per runner besides its own (its KV cache and
 * compute buffers at the model's context size × min(parallel, 2) sequences; weights and adapters are shared): a
 * runner may keep up to 4 such contexts, each created on first use, so a workload that keeps several adapter sets
 * busy at once needs up to three more of them.
 */
export function servedModelEstimate(path: string, spec: ServedModelSpec, engine: EngineResidency): number {
  const file = readGguf(path);
  const summary = summarizeGguf(file);
  const contextSize = spec.contextSize ?? Math.min(summary.contextLength ?? 4096, 4096);
  const parallel = spec.parallel ?? 1;
  const cpu = engineCpuFeatures(engine);
  const resident = estimateMemory(file, summary, contextSize, 512, parallel, cpu, engine.mmap).totalBytes;
  let adapterContext = 0;
  if (engine.backend === "node-llama-cpp" && (spec.adapters?.length ?? 0) > 0) {
    const extra = estimateMemory(file, summary, contextSize, 512, adapterSequences(parallel), cpu);
    adapterContext = extra.kvCacheBytes + extra.computeBytes;
  }
  const perRunner = resident + adapterContext + RUNNER_BASELINE_BYTES[engine.backend];
  return perRunner * (spec.runners ?? 1);
}

/**
 * Checks the served models against the memory budget, in order, and swaps in
 * variants or refuses as `server.memory_fit` says. Throws `insufficient_memory`.
 */
export async function planMemoryFit(specs: ServedModelSpec[], config: Config, options: MemoryFitOptions): Promise<MemoryFitPlan> {
  const memory = options.memory ?? readSystemMemory();
  const budgetBytes = Math.max(0, memory.availableBytes - config.server.memory_headroom_mb * 1024 * 1024);
  const mode = config.server.memory_fit;
  const planned: ServedModelSpec[] = [];
  const fits: ModelFit[] = [];
  let left = budgetBytes;
  for (const spec of specs) {
    const resolved = await resolveModel(spec.ref, config, { allowDownload: false });
    let estimate: number;
    try {
      estimate = servedModelEstimate(resolved.path, spec, options.engine);
    } catch (error) {
      // A file that cannot be read is the model pool's to refuse: that model is reported failed, the others are served.
      planned.push(spec);
      fits.push({ name: spec.name, wanted: spec.ref, ref: spec.ref, estimateBytes: 0, reason: `${spec.name}: no memory estimate (${(error as Error).message}); its load will say why` });
      continue;
    }
    if (mode === "off" || estimate <= left) {
      planned.push(spec);
      fits.push({ name: spec.name, wanted: spec.ref, ref: spec.ref, estimateBytes: estimate, reason: `${spec.name}: needs about ${mib(estimate)}; ${describeMemory(memory)}` });
      left -= estimate;
      continue;
    }
    const tried: string[] = [];
    let chosen: { ref: string; estimate: number } | undefined;
    if (mode === "variant") {
      for (const variant of options.variants?.variantsOf({ ref: resolved.name, path: resolved.path }) ?? []) {
        const path = (await resolveModel(variant.ref, config, { allowDownload: false })).path;
        const variantEstimate = servedModelEstimate(path, spec, options.engine);
        tried.push(`${variant.ref} ${mib(variantEstimate)}`);
        if (variantEstimate <= left && (!chosen || variantEstimate > chosen.estimate)) chosen = { ref: variant.ref, estimate: variantEstimate };
      }
    }
    if (!chosen) {
      const variants = tried.length > 0 ? `; no variant fits either (${tried.join(", ")})` : mode === "variant" ? "; it has no variants in the store" : "";
      throw new EdgeError(
        "insufficient_memory",
        `${spec.name} (${spec.ref}) needs about ${mib(estimate)} at ${spec.contextSize ?? "its default"} context × ${spec.parallel ?? 1} sequences × ${spec.runners ?? 1} runner(s), but ${left < budgetBytes ? `${mib(left)} is left after the models before it (${describeMemory(memory)}, ${config.server.memory_headroom_mb} MiB kept free)` : `${describeMemory(memory)} (${config.server.memory_headroom_mb} MiB kept free)`}${variants}: quantize it lower (edgelm quantize), lower context_size or parallel, or raise the memory limit`,
        { details: { model: spec.name, estimate_bytes: estimate, budget_bytes: left, limit_bytes: memory.limitBytes ?? null } },
      );
    }
    planned.push({ ...spec, ref: chosen.ref });
    fits.push({
      name: spec.name,
      wanted: spec.ref,
      ref: chosen.ref,
      estimateBytes: chosen.estimate,
      reason: `${spec.name}: ${spec.ref} needs about ${mib(estimate)} but ${describeMemory(memory)}; serving its variant ${chosen.ref} (about ${mib(chosen.estimate)})`,
    });
    left -= chosen.estimate;
  }
  return { specs: planned, fits, budgetBytes, memory };
}
