import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import type { Config } from "../../src/config/schema.js";
import { EdgeError } from "../../src/errors.js";
import type { ModelSource } from "../../src/store/model-source.js";
import { MODEL_SOURCES } from "../../src/store/model-sources.js";
import { isModelReference, pullModel, resolveModel } from "../../src/store/resolve-model.js";
import { tempHome, TEST_MODEL } from "../helpers.js";

/** A kind of reference the project does not have: `mem:<name>` names a file this test holds. */
const memSource: ModelSource<{ name: string }> = {
  kind: "mem",
  parse: (text) => (text.startsWith("mem:") ? { name: text.slice(4) } : undefined),
  recognizes: () => true,
  resolve: async (ref) => (ref.name === "stories" ? { name: "mem-stories", path: TEST_MODEL, source: "mem" } : undefined),
  names: () => ["mem:stories"],
};

describe("model sources", () => {
  let config: Config;
  let cleanup: () => void;
  before(() => {
    const home = tempHome();
    cleanup = home.cleanup;
    config = loadConfig({ env: { EDGELM_HOME: home.home }, cwd: home.home }).config;
  });
  after(() => cleanup());

  it("a new kind plugs in as one source placed before the path source", async () => {
    const withMem = [memSource, ...MODEL_SOURCES];
    const resolved = await resolveModel("mem:stories", config, {}, withMem);
    assert.deepEqual(resolved, { name: "mem-stories", path: TEST_MODEL, source: "mem" });
    assert.equal(await isModelReference("mem:stories", config, withMem), true);
    // Without it, the text is a name:tag no source has.
    await assert.rejects(resolveModel("mem:stories", config), (e: unknown) => e instanceof EdgeError && e.code === "model_not_found" && /unknown model "mem:stories"/.test(e.message));
    // A name no source has is model_not_found, with suggestions from every source's names (the new one's too).
    await assert.rejects(resolveModel("mem-storie", config, {}, withMem), (e: unknown) => {
      assert.ok(e instanceof EdgeError && e.code === "model_not_found");
      assert.match(e.message, /unknown model "mem-storie"; did you mean "mem:stories"\?/);
      return true;
    });
    // It cannot pull: pull says so instead of pretending.
    await assert.rejects(pullModel("mem:stories", config, {}, withMem), (e: unknown) => e instanceof EdgeError && e.code === "usage" && /neither in the catalog nor in the store/.test(e.message));
  });

  it("the built-in sources keep the documented order: demo, store, catalog, path", async () => {
    assert.deepEqual(MODEL_SOURCES.map((s) => s.kind), ["hf", "demo", "store", "catalog", "path"]);
    assert.equal((await resolveModel(undefined, config)).source, "demo");
    assert.equal((await resolveModel("demo", config)).source, "demo");
    assert.equal((await resolveModel(TEST_MODEL, config)).source, "path");
    await assert.rejects(resolveModel("smollm2:360m", config, { allowDownload: false }), (e: unknown) => e instanceof EdgeError && e.code === "model_not_found" && /not in the store yet/.test(e.message));
    await assert.rejects(resolveModel("  ", config), (e: unknown) => e instanceof EdgeError && e.code === "usage" && /empty/.test(e.message));
    await assert.rejects(resolveModel("hf:only-owner", config), (e: unknown) => e instanceof EdgeError && e.code === "usage" && /not a valid hf: reference/.test(e.message));
    await assert.rejects(pullModel(TEST_MODEL, config), (e: unknown) => e instanceof EdgeError && e.code === "usage" && /edgelm add/.test(e.message));
    assert.equal(await isModelReference("once upon a time", config), false);
    assert.equal(await isModelReference("smollm2", config), true);
  });
});
