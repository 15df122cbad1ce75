import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { isEdgeError } from "../../src/errors.js";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { summarizeGguf } from "../../src/gguf/gguf-summary.js";
import { estimateMemory } from "../../src/gguf/memory-estimate.js";
import { storeVariantFinder } from "../../src/ops/variant-ladder.js";
import { planMemoryFit, servedModelEstimate } from "../../src/server/memory-fit.js";
import type { SystemMemory } from "../../src/ops/system-memory.js";
import { tempHome } from "../helpers.js";
import { storeDemoVariants } from "../ops/demo-variants.js";

const MiB = 1024 ** 2;

function capped(limitBytes: number): SystemMemory {
  return { totalBytes: limitBytes, availableBytes: limitBytes, source: "cgroup-v2", limitBytes };
}

describe("fit planner (memory_fit)", () => {
  it("keeps a model that fits, serves the largest variant that fits under a cap, and refuses clearly when none does", async () => {
    const { home, cleanup } = tempHome();
    try {
      const { store, f32, q8, q4 } = await storeDemoVariants(home);
      const { config } = loadConfig({ env: { EDGELM_HOME: home } });
      const spec = { name: "bigram", ref: "bigram:f32", parallel: 1, runners: 1, contextSize: 256 };
      const engine = { backend: "llama-server" as const };
      const estimate = (path: string): number => servedModelEstimate(path, spec, engine);
      const [e32, e8, e4] = [estimate(f32.model.path), estimate(q8.model.path), estimate(q4.model.path)];
      assert.ok(e32 > e8 && e8 > e4, `estimates fall with precision: ${e32} ${e8} ${e4}`);
      const headroom = config.server.memory_headroom_mb * MiB;
      const variants = storeVariantFinder(store);

      const roomy = await planMemoryFit([spec], config, { engine, variants, memory: capped(1024 * MiB) });
      assert.equal(roomy.specs[0]!.ref, "bigram:f32");

      // Room for q8_0 but not f32: the largest variant that fits.
      const between = Math.round(headroom + (e32 + e8) / 2);
      const swapped = await planMemoryFit([spec], config, { engine, variants, memory: capped(between) });
      assert.equal(swapped.specs[0]!.ref, "bigram:q8_0");
      assert.equal(swapped.specs[0]!.name, "bigram");
      assert.match(swapped.fits[0]!.reason, /cgroup-v2 memory limit of \d+ MiB .*serving its variant bigram:q8_0/);

      const tiny = Math.round(headroom + e4 / 2);
      await assert.rejects(planMemoryFit([spec], config, { engine, variants, memory: capped(tiny) }), (error: unknown) => {
        assert.ok(isEdgeError(error) && error.code === "insufficient_memory");
        assert.match(error.message, /bigram \(bigram:f32\) needs about \d+ MiB .*memory limit of \d+ MiB.*no variant fits either \(bigram:q8_0 \d+ MiB, bigram:q4_0 \d+ MiB\)/);
        return true;
      });

      const refuse = loadConfig({ env: { EDGELM_HOME: home }, flags: { server: { memory_fit: "refuse" } } }).config;
      await assert.rejects(planMemoryFit([spec], refuse, { engine, variants, memory: capped(between) }), /insufficient|needs about/);
      const off = loadConfig({ env: { EDGELM_HOME: home }, flags: { server: { memory_fit: "off" } } }).config;
      assert.equal((await planMemoryFit([spec], off, { engine, variants, memory: capped(tiny) })).specs[0]!.ref, "bigram:f32");
    } finally {
      cleanup();
    }
  });

  it("counts every runner and the models before it against one budget", async () => {
    const { home, cleanup } = tempHome();
    try {
      const { config } = loadConfig({ env: { EDGELM_HOME: home } });
      const one = { name: "a", ref: "demo", parallel: 1, runners: 1, contextSize: 256 };
      const single = servedModelEstimate((await import("../../src/demo/demo-model-file.js")).DEMO_MODEL_PATH, one, { backend: "node-llama-cpp" });
      assert.equal(servedModelEstimate((await import("../../src/demo/demo-model-file.js")).DEMO_MODEL_PATH, { ...one, runners: 3 }, { backend: "node-llama-cpp" }), 3 * single);
      // Selectable adapters on node-llama-cpp: one adapter context's KV cache and compute buffers more per runner; none on llama-server.
      const withAdapters = { ...one, parallel: 4, adapters: [{ name: "x", path: "/unused.gguf" }] };
      const demoPath = (await import("../../src/demo/demo-model-file.js")).DEMO_MODEL_PATH;
      const without = servedModelEstimate(demoPath, { ...withAdapters, adapters: [] }, { backend: "node-llama-cpp" });
      const summary = summarizeGguf(readGguf(demoPath));
      const context = estimateMemory(readGguf(demoPath), summary, 256, 512, 2, undefined, "off");
      assert.equal(servedModelEstimate(demoPath, withAdapters, { backend: "node-llama-cpp" }) - without, context.kvCacheBytes + context.computeBytes);
      assert.equal(servedModelEstimate(demoPath, withAdapters, { backend: "llama-server" }), servedModelEstimate(demoPath, { ...withAdapters, adapters: [] }, { backend: "llama-server" }));
      const budget = Math.round(config.server.memory_headroom_mb * MiB + single * 1.5);
      await assert.rejects(
        planMemoryFit([one, { ...one, name: "b" }], config, { engine: { backend: "node-llama-cpp" }, memory: capped(budget) }),
        /b \(demo\) needs about \d+ MiB .* is left after the models before it.*it has no variants in the store/,
      );
    } finally {
      cleanup();
    }
  });
});
