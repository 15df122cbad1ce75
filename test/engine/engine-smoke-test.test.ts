/** The engine smoke test on a real llama-server and on one that crashes at load, and its per-binary, per-CPU cache. */
import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cachedSmokeResult, describeSmokeFailure, llamaServerSmokeLoad, smokeTest } from "../../src/engine/engine-smoke-test.js";
import { SYNTHETIC_TYPES } from "../../src/gguf/synthetic-model.js";
import { tempHome, testLlamaServer } from "../helpers.js";
import { writeCrashingLlamaServer } from "../support/crashing-llama-server.js";

describe("engine smoke test", () => {
  let home: string;
  let cleanup: () => void;
  let binary: string;
  before(async () => {
    ({ home, cleanup } = tempHome());
    binary = join(home, "llama-server");
    copyFileSync(await testLlamaServer(), binary);
  });
  after(() => cleanup());

  it("loads a model of every type the quantizer writes on a real llama-server, once per binary and CPU", async () => {
    assert.equal(cachedSmokeResult(binary, home), undefined);
    const loaded: string[] = [];
    const first = await smokeTest(binary, llamaServerSmokeLoad(binary), { home, onModel: (t) => loaded.push(t) });
    assert.equal(first.ok, true, JSON.stringify(first.failure));
    assert.equal(first.cached, false);
    assert.deepEqual(first.types, SYNTHETIC_TYPES);
    assert.deepEqual(loaded, SYNTHETIC_TYPES);
    const second = await smokeTest(binary, () => Promise.reject(new Error("must not run")), { home });
    assert.equal(second.cached, true);
    assert.equal(second.checkedAt, first.checkedAt);
    assert.equal(cachedSmokeResult(binary, home)?.ok, true);
    const cache = JSON.parse(readFileSync(join(home, "cache", "engine-smoke.json"), "utf8")) as Record<string, unknown>;
    assert.equal(Object.keys(cache).length, 1);
    assert.match(Object.keys(cache)[0]!, /^v\d+:[0-9a-f]{64}:.+ \[[0-9a-f]{12}\]$/);
  });

  it("names the model and signal when the binary crashes at load, and does not trust other bytes", async () => {
    const crashing = writeCrashingLlamaServer(join(home, "crashing", "llama-server"));
    const result = await smokeTest(crashing, llamaServerSmokeLoad(crashing), { home });
    assert.equal(result.ok, false);
    assert.deepEqual(result.types, [SYNTHETIC_TYPES[0]]);
    assert.equal(result.failure?.signal, "SIGILL");
    assert.match(result.failure!.message, /killed by SIGILL/);
    assert.match(describeSmokeFailure(result.failure!), /^the F16 smoke-test model crashed it \(SIGILL\): an instruction set it was built with probably does not execute on this CPU/);
    assert.equal(cachedSmokeResult(crashing, home)?.ok, false);
    // The same path with other bytes is another binary: not known yet.
    writeCrashingLlamaServer(crashing, "SEGV");
    assert.equal(cachedSmokeResult(crashing, home), undefined);
    const segv = await smokeTest(crashing, llamaServerSmokeLoad(crashing), { home });
    assert.equal(segv.failure?.signal, "SIGSEGV");
  });
});
