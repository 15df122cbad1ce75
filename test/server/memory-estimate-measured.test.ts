/**
 * The fit planner's estimate against what runners really hold: two synthetic
 * shapes (a 135M Q4_0, whose matrices llama.cpp repacks into a second copy on
 * an AVX2 CPU, and a 360M Q8_0, which it does not), both engines, at 1024
 * tokens × 2 sequences; the runner's resident size (VmRSS: anonymous memory
 * plus the mapped model, if mapped) after one request must be within 10% of the
 * estimate, and the runner maps the model file exactly when engine.mmap auto
 * says (not when the engine repacks some of its weights on this CPU).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readCpuFeatures } from "../../src/gguf/cpu-repack.js";
import { writeSyntheticModel } from "../../src/gguf/synthetic-model.js";
import { parseSyntheticShape } from "../../src/gguf/synthetic-shape.js";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { modelUsesMmap, type EngineResidency } from "../../src/engine/weight-residency.js";
import { servedModelEstimate } from "../../src/server/memory-fit.js";
import { testLlamaServer } from "../helpers.js";
import { startGateway } from "./gateway-fixture.js";

function residentBytes(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") };
}

describe("memory estimate vs measured runner memory (two shapes, both engines)", () => {
  let dir: string;
  const shapes = { "135m-q4_0": { shape: "135m", type: "q4_0" }, "360m-q8_0": { shape: "360m", type: "q8_0" } } as const;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-memest-"));
    for (const [name, { shape, type }] of Object.entries(shapes)) {
      await writeSyntheticModel(join(dir, `${name}.gguf`), { shape: parseSyntheticShape(shape), type });
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const backend of ["node-llama-cpp", "llama-server"] as const) {
    it(`${backend}: within 10% on both shapes`, async () => {
      const binary = backend === "llama-server" ? await testLlamaServer() : undefined;
      const engine = binary ? { backend, llama_server: binary } : { backend };
      const residency: EngineResidency = { backend, mmap: "auto", ...(binary ? { llamaServer: binary } : {}) };
      const rows: string[] = [];
      for (const name of Object.keys(shapes)) {
        const spec = { name: "m", ref: join(dir, `${name}.gguf`), parallel: 2, runners: 1, contextSize: 1024, threads: { prompt: 1, decode: 1 } };
        const fixture = await startGateway({ models: [spec], config: { engine: { ...engine, tune_threads: false } } });
        try {
          const response = await fetch(`${fixture.url}/v1/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "m", prompt: "Once upon a time there was a", max_tokens: 16 }),
          });
          assert.equal(response.status, 200, await response.text());
          const pid = fixture.gateway.pool("m").runnerProcesses()[0]!.pid!;
          const measured = residentBytes(pid);
          const estimate = servedModelEstimate(spec.ref, spec, residency);
          const error = (estimate - measured.rss) / measured.rss;
          const mapped = readFileSync(`/proc/${pid}/maps`, "utf8").includes(spec.ref);
          rows.push(
            `${name}: estimate ${(estimate / 1e6).toFixed(0)} MB, VmRSS ${(measured.rss / 1e6).toFixed(0)} MB (anon ${(measured.anon / 1e6).toFixed(0)}, file ${(measured.file / 1e6).toFixed(0)}), ${(error * 100).toFixed(1)}%, ${mapped ? "mapped" : "read"}`,
          );
          assert.equal(mapped, modelUsesMmap(readGguf(spec.ref), residency), `the runner maps the model exactly when engine.mmap auto says: ${rows.join("; ")}`);
          assert.ok(Math.abs(error) <= 0.1, rows.join("\n"));
        } finally {
          await fixture.close();
        }
      }
      process.stdout.write(`# ${backend} (${readCpuFeatures().avx2 ? "AVX2" : "no AVX2"}):\n# ${rows.join("\n# ")}\n`);
    });
  }
});
