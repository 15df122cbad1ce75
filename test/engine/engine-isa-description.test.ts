/**
 * `edgelm bench` and the gateway's start-up say which instruction sets the
 * llama-server in use was built for: from its `engine build` record, also when
 * it is given by path (--llama-server, e.g. a build under another EDGELM_HOME).
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { describeEngineIsa } from "../../src/engine/engine-choice.js";
import { tempHome } from "../helpers.js";

describe("the instruction sets a llama-server was built for", () => {
  it("come from the engine build record beside a binary given by path; any other binary is unknown", () => {
    const { home, cleanup } = tempHome();
    try {
      const dir = join(home, "other-home", "engines", "llama.cpp-0123456789ab");
      const binary = join(dir, "bin", "llama-server");
      mkdirSync(join(dir, "bin"), { recursive: true });
      writeFileSync(binary, "#!/bin/sh\n");
      const isa = { arch: "x64", cpu: "Test CPU", features: ["sse42", "avx", "avx2"], probe: [], why: "every advertised instruction set probed executes" };
      writeFileSync(join(dir, "engine.json"), JSON.stringify({ backend: "llama-server", binary, commit: "0123456789ab", version: "test", openmp: true, cmakeOptions: {}, isa, builtAt: "", seconds: 1 }));
      const configured = (path: string) => loadConfig({ flags: { engine: { llama_server: path } }, env: { EDGELM_HOME: home } }).config;
      assert.match(describeEngineIsa("llama-server", "", configured(binary)), /sse42 avx avx2.*every advertised instruction set probed executes/);
      const elsewhere = join(home, "llama-server");
      writeFileSync(elsewhere, "#!/bin/sh\n");
      assert.equal(describeEngineIsa("llama-server", "", configured(elsewhere)), "unknown: a llama-server not built by edgelm");
    } finally {
      cleanup();
    }
  });
});
