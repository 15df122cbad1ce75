import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { isEdgeError } from "../../src/errors.js";
import { tempHome } from "../helpers.js";

describe("engine.sandbox config", () => {
  it("defaults to auto, user edgelm, 512 MiB headroom, 1024 files and processes", () => {
    const { home, cleanup } = tempHome();
    try {
      const { config } = loadConfig({ env: { EDGELM_HOME: home }, cwd: home });
      assert.deepEqual(config.engine.sandbox, { mode: "auto", user: "edgelm", memory_headroom_mb: 512, open_files: 1024, processes: 1024 });
    } finally {
      cleanup();
    }
  });

  it("takes EDGELM_SANDBOX and EDGELM_SANDBOX_USER, and names a bad mode", () => {
    const { home, cleanup } = tempHome();
    try {
      const { config } = loadConfig({ env: { EDGELM_HOME: home, EDGELM_SANDBOX: "required", EDGELM_SANDBOX_USER: "runner" }, cwd: home });
      assert.equal(config.engine.sandbox.mode, "required");
      assert.equal(config.engine.sandbox.user, "runner");
      assert.equal(config.engine.backend, "auto");
      assert.throws(
        () => loadConfig({ env: { EDGELM_HOME: home, EDGELM_SANDBOX: "strict" }, cwd: home }),
        (e: unknown) => isEdgeError(e) && e.code === "invalid_config" && /engine\.sandbox\.mode/.test(e.message),
      );
    } finally {
      cleanup();
    }
  });
});
