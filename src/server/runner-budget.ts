/**
 * Whether a model may get one more runner process (edgelm admin add-runner, a
 * scale-out policy): at most `server.max_runners` per model, and only when the
 * fit planner's estimate of one runner fits the memory this machine (or its
 * cgroup limit) has left, minus `server.memory_headroom_mb`, unless
 * `server.memory_fit` is off.
 */
import { configuredResidency } from "../engine/weight-residency.js";
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import { readSystemMemory, type SystemMemory } from "../ops/system-memory.js";
import type { ServedModelStatus } from "../scheduler/served-model.js";
import { servedModelEstimate } from "./memory-fit.js";

const mib = (bytes: number): number => Math.round(bytes / (1024 * 1024));

/** Throws when `status`'s model may not get another runner now. */
export function checkOneMoreRunner(status: ServedModelStatus, config: Config, backend: string, memory: () => SystemMemory = () => readSystemMemory()): void {
  const limit = config.server.max_runners;
  const serving = status.runners.filter((r) => !r.draining).length;
  if (serving >= limit) {
    throw new EdgeError("usage", `model ${status.name} already has ${serving} runners, the most server.max_runners (${limit}) allows`, {
      param: "model",
      details: { limit, setting: "server.max_runners" },
    });
  }
  if (config.server.memory_fit === "off" || !status.path) return;
  const engine = backend === "llama-server" ? "llama-server" : "node-llama-cpp";
  let estimate: number;
  try {
    estimate = servedModelEstimate(status.path, { name: status.name, ref: status.ref, parallel: status.parallel, runners: 1, ...(status.info ? { contextSize: status.info.contextSize } : {}) }, configuredResidency(config, engine));
  } catch {
    return; // a file that cannot be estimated is refused by the load itself
  }
  const now = memory();
  const left = now.availableBytes - config.server.memory_headroom_mb * 1024 * 1024;
  if (estimate > left) {
    throw new EdgeError(
      "insufficient_memory",
      `one more runner of ${status.name} needs about ${mib(estimate)} MiB, but ${mib(Math.max(0, now.availableBytes))} MiB is available (${config.server.memory_headroom_mb} MiB kept free, server.memory_headroom_mb)`,
      { details: { estimate_bytes: estimate, available_bytes: now.availableBytes } },
    );
  }
}
