/**
 * The step-down ladder of `engine build` (both engines): each instruction-set
 * list in turn until one passes its smoke test, every crash named on the way.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { firstSetThatRuns } from "../../src/engine/engine-build.js";
import type { SmokeResult } from "../../src/engine/engine-smoke-test.js";

const smoke = (ok: boolean, type = "q8_0"): SmokeResult => ({
  ok,
  types: [type],
  seconds: 0.1,
  checkedAt: new Date(0).toISOString(),
  ...(ok ? {} : { failure: { type, message: "llama-server exited while loading (killed by SIGILL)", signal: "SIGILL" } }),
});

describe("the instruction-set ladder", () => {
  it("steps down past the lists whose builds crash and keeps the first that runs, naming each crash", async () => {
    const tried: string[][] = [];
    const lines: string[] = [];
    const ladder = await firstSetThatRuns([["avx2", "amx_int8"], ["avx2"], []], (line) => lines.push(line), async (features) => {
      tried.push(features);
      return { smoke: smoke(!features.includes("amx_int8")), value: features.length };
    });
    assert.deepEqual(tried, [["avx2", "amx_int8"], ["avx2"]], "stops at the first list that runs");
    assert.deepEqual(ladder.passed?.features, ["avx2"]);
    assert.equal(ladder.passed?.value, 1);
    assert.equal(ladder.crashes.length, 1);
    assert.match(ladder.crashes[0]!, /amx_int8.*SIGILL/);
    assert.ok(lines.some((l) => /SIGILL.*building again with/.test(l)), lines.join("\n"));
  });

  it("gives only the crashes when no list runs, down to no native flags", async () => {
    const ladder = await firstSetThatRuns([["avx2"], []], () => {}, async () => ({ smoke: smoke(false), value: 0 }));
    assert.equal(ladder.passed, undefined);
    assert.equal(ladder.crashes.length, 2);
  });
});
