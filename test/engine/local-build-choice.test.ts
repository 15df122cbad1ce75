/**
 * engine.node_llama_cpp_build: auto and an on-device build: it is used only
 * once it passes the smoke test on this CPU; a build that crashes there (here
 * a child process that really dies of SIGILL on the first model) is passed
 * over with a warning, and the verdict is cached per addon and CPU.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EdgeError } from "../../src/errors.js";
import { cachedSmokeResult, type SmokeLoad } from "../../src/engine/engine-smoke-test.js";
import { localBuildForAuto, pinNodeLlamaCppBuild } from "../../src/engine/local-build-choice.js";
import { ChildProcessRunnerFactory } from "../../src/engine/runners/child-process-runner.js";
import type { LocalNodeLlamaCppBuild } from "../../src/engine/local-build-profile.js";
import { tempHome, TEST_MODEL } from "../helpers.js";

/** A smoke load whose engine is a child process that loads nothing and dies of `signal` (or exits 0). */
function childLoad(signal: "SIGILL" | undefined, calls: string[]): SmokeLoad {
  return (_path, type) =>
    new Promise((resolve, reject) => {
      calls.push(type);
      const code = signal ? `process.kill(process.pid, "${signal}")` : "process.exit(0)";
      execFile(process.execPath, ["-e", code], (error) => {
        if (!error) return resolve();
        const failed = error as { signal?: string | null };
        reject(new EdgeError("model_load_failed", `edgelm run was killed by ${failed.signal}`, failed.signal ? { details: { signal: failed.signal } } : {}));
      });
    });
}

function fakeBuild(home: string, name: string, bytes: string): LocalNodeLlamaCppBuild {
  const folder = join(home, "localBuilds", name);
  mkdirSync(join(folder, "Release"), { recursive: true });
  const addon = join(folder, "Release", "llama-addon.node");
  writeFileSync(addon, bytes);
  return { folder, addon, cmakeOptions: { GGML_NATIVE: "OFF", EDGELM_PERSISTENT_THREADPOOL: "ON" } };
}

describe("the on-device node-llama-cpp build under auto", () => {
  let home: string;
  let cleanup: () => void;
  before(() => ({ home, cleanup } = tempHome()));
  after(() => cleanup());

  it("is passed over when it crashes its smoke test on this CPU, and the verdict is cached", async () => {
    const build = fakeBuild(home, "crashes", "an addon built for another CPU");
    const calls: string[] = [];
    assert.equal(await localBuildForAuto(home, () => build, childLoad("SIGILL", calls)), undefined);
    assert.deepEqual(calls, ["f16"], "the first crash stops the test");
    const cached = cachedSmokeResult(build.addon, home);
    assert.equal(cached?.ok, false);
    assert.equal(cached?.failure?.signal, "SIGILL");
    // Known now: not tested again, still passed over.
    assert.equal(await localBuildForAuto(home, () => build, childLoad(undefined, calls)), undefined);
    assert.equal(calls.length, 1);
  });

  it("is used once every smoke model runs, and a build with other bytes is tested again", async () => {
    const build = fakeBuild(home, "runs", "an addon built here");
    const calls: string[] = [];
    assert.equal((await localBuildForAuto(home, () => build, childLoad(undefined, calls)))?.folder, build.folder);
    assert.ok(calls.length >= 6, `every weight type is loaded (${calls.join(" ")})`);
    assert.equal(cachedSmokeResult(build.addon, home)?.ok, true);
    writeFileSync(build.addon, "rebuilt with other instruction sets");
    assert.equal(cachedSmokeResult(build.addon, home), undefined);
  });

  it("without a build, there is nothing to test", async () => {
    assert.equal(await localBuildForAuto(home, () => undefined, () => Promise.reject(new Error("must not run"))), undefined);
  });
});

describe("the node-llama-cpp build runner processes load", () => {
  const local: LocalNodeLlamaCppBuild = { folder: "/nowhere", addon: "/nowhere/Release/llama-addon.node", cmakeOptions: { GGML_NATIVE: "OFF", GGML_AVX2: "ON" } };
  const never = (): never => {
    throw new Error("must not be asked");
  };

  it("is decided once by the gateway from engine.node_llama_cpp_build", async () => {
    assert.deepEqual(await pinNodeLlamaCppBuild("prebuilt", "/home", never, never), { build: "prebuilt" });
    assert.deepEqual(await pinNodeLlamaCppBuild("local", "/home", () => local, never), { cmakeOptions: local.cmakeOptions });
    assert.deepEqual(await pinNodeLlamaCppBuild("local", "/home", () => undefined, never), { build: "local" }, "each load then says how to make one");
    const homes: string[] = [];
    const forAuto = (passes: boolean) => async (home: string) => (homes.push(home), passes ? local : undefined);
    assert.deepEqual(await pinNodeLlamaCppBuild("auto", "/gateway-home", never, forAuto(true)), { cmakeOptions: local.cmakeOptions });
    assert.deepEqual(await pinNodeLlamaCppBuild("auto", "/gateway-home", never, forAuto(false)), { build: "prebuilt" });
    assert.deepEqual(homes, ["/gateway-home", "/gateway-home"], "the smoke-test cache is the gateway's EDGELM_HOME, not the runner's");
  });

  it("reaches the runner process: the prebuilt binaries load, a pinned build that is not there fails the load naming it", async () => {
    const prebuilt = new ChildProcessRunnerFactory({ build: { build: "prebuilt" } }).create({ name: "pinned-prebuilt", path: TEST_MODEL, parallel: 1, contextSize: 256 });
    try {
      const info = await prebuilt.start();
      assert.match(info.engineBuild, /prebuilt/);
    } finally {
      await prebuilt.dispose();
    }
    const missing = new ChildProcessRunnerFactory({ build: { cmakeOptions: { GGML_NATIVE: "OFF", EDGELM_PIN_CHECK: "ON" } } }).create({
      name: "pinned-local",
      path: TEST_MODEL,
      parallel: 1,
      contextSize: 256,
    });
    try {
      await assert.rejects(missing.start(), (error: EdgeError) => error.code === "model_load_failed");
    } finally {
      await missing.dispose();
    }
  });
});
