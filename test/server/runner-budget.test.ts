/**
 * One more runner (edgelm admin add-runner, a scale-out policy) only within
 * server.max_runners and only when the fit planner's estimate of one runner
 * fits the memory left, minus server.memory_headroom_mb.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { isEdgeError } from "../../src/errors.js";
import type { ServedModelStatus } from "../../src/scheduler/served-model.js";
import { servedModelEstimate } from "../../src/server/memory-fit.js";
import { checkOneMoreRunner } from "../../src/server/runner-budget.js";
import { tempHome, TEST_MODEL } from "../helpers.js";

const MIB = 1024 * 1024;

function status(runners: number): ServedModelStatus {
  return {
    name: "stories",
    ref: TEST_MODEL,
    path: TEST_MODEL,
    parallel: 2,
    info: { contextSize: 512 },
    runners: Array.from({ length: runners }, (_, i) => ({ id: `stories#${i + 1}`, draining: false })),
  } as unknown as ServedModelStatus;
}

describe("the runner budget", () => {
  const { home, cleanup } = tempHome();
  after(cleanup);
  const config = (server: Record<string, unknown> = {}) => loadConfig({ flags: { server: { max_runners: 3, memory_headroom_mb: 32, ...server } }, env: { EDGELM_HOME: home } }).config;
  const estimate = servedModelEstimate(TEST_MODEL, { name: "stories", ref: TEST_MODEL, parallel: 2, runners: 1, contextSize: 512 }, { backend: "node-llama-cpp" });
  const memory = (availableBytes: number) => () => ({ totalBytes: 4096 * MIB, availableBytes, source: "meminfo" as const });

  it("refuses one more runner than server.max_runners, naming the setting", () => {
    assert.throws(
      () => checkOneMoreRunner(status(3), config(), "node-llama-cpp", memory(4096 * MIB)),
      (e: unknown) => isEdgeError(e) && e.code === "usage" && /already has 3 runners, the most server\.max_runners \(3\) allows/.test(e.message),
    );
  });

  it("adds one only while the estimate fits what is left after the headroom; memory_fit off skips the check", () => {
    const fits = estimate + 32 * MIB + MIB;
    assert.doesNotThrow(() => checkOneMoreRunner(status(1), config(), "node-llama-cpp", memory(fits)));
    const short = estimate + 32 * MIB - MIB;
    assert.throws(
      () => checkOneMoreRunner(status(1), config(), "node-llama-cpp", memory(short)),
      (e: unknown) => isEdgeError(e) && e.code === "insufficient_memory" && /one more runner of stories needs about \d+ MiB, but \d+ MiB is available \(32 MiB kept free/.test(e.message),
    );
    assert.doesNotThrow(() => checkOneMoreRunner(status(1), config({ memory_fit: "off" }), "node-llama-cpp", memory(0)));
  });
});
