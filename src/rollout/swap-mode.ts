/**
 * The memory rule a rollout's swap follows (the same one the policy engine's
 * swaps follow): load the new version beside the old one only when its
 * estimated resident memory, all runners together, fits in what this machine
 * (or its cgroup limit) has available less `server.memory_headroom_mb`; else
 * drain, unload, load — and the swap reports the time without a runner.
 * `server.rollout.swap` can force either mode.
 */
import { configuredResidency } from "../engine/weight-residency.js";
import type { Config } from "../config/schema.js";
import { toEdgeError } from "../errors.js";
import { logger } from "../log.js";
import { readSystemMemory } from "../ops/system-memory.js";
import type { ServedModelStatus } from "../scheduler/served-model.js";
import { servedModelEstimate } from "../server/memory-fit.js";
import { resolveModel } from "../store/resolve-model.js";

/** overlap or drain-first for swapping `status`'s model to the stored version `ref`. */
export async function chooseSwapMode(config: Config, status: ServedModelStatus, ref: string): Promise<"overlap" | "drain-first"> {
  const forced = config.server.rollout.swap;
  if (forced !== "auto") return forced;
  try {
    const path = (await resolveModel(ref, config, { allowDownload: false })).path;
    const runners = Math.max(1, status.runners.filter((r) => !r.draining).length);
    const backend = status.runners.some((r) => r.backend === "llama-server") ? "llama-server" : "node-llama-cpp";
    const needs = servedModelEstimate(path, { name: status.name, ref, parallel: status.parallel, runners, ...(status.info ? { contextSize: status.info.contextSize } : {}) }, configuredResidency(config, backend));
    const memory = readSystemMemory();
    const budget = memory.availableBytes - config.server.memory_headroom_mb * 1024 * 1024;
    if (needs <= budget) return "overlap";
    logger.info(`rollout ${status.name}: the new version needs about ${Math.round(needs / 2 ** 20)} MiB beside the old but ${Math.round(budget / 2 ** 20)} MiB is free: drain, unload, load`);
    return "drain-first";
  } catch (error) {
    logger.warn(`rollout ${status.name}: no memory estimate for ${ref} (${toEdgeError(error).message}); drain, unload, load`);
    return "drain-first";
  }
}
