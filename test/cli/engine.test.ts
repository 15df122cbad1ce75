import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { llamaServerBuildDirectory } from "../../src/engine/engine-build.js";
import { llamaCppBundleCommit } from "../../src/engine/llama-cpp-source.js";
import { findLocalNodeLlamaCppBuild } from "../../src/engine/local-build-profile.js";
import { runCli, tempHome, testLlamaServer } from "../helpers.js";

describe("edgelm engine (CLI, end to end)", () => {
  let home: string;
  let cleanup: () => void;
  before(() => ({ home, cleanup } = tempHome()));
  after(() => cleanup());

  it("lists the prebuilt node-llama-cpp binaries, the on-device build, and llama-server builds in EDGELM_HOME", async () => {
    const finished = join(home, "engines", "llama.cpp-0123456789ab");
    mkdirSync(join(finished, "bin"), { recursive: true });
    writeFileSync(join(finished, "bin", "llama-server"), "");
    const record = { backend: "llama-server", binary: join(finished, "bin", "llama-server"), commit: "0123456789abcdef", version: "1", openmp: true, cmakeOptions: {}, builtAt: "2026-01-01T00:00:00.000Z", seconds: 1 };
    writeFileSync(join(finished, "engine.json"), JSON.stringify(record));
    // A build that did not finish (no engine.json) is listed as such and never used.
    mkdirSync(join(home, "engines", "llama.cpp-fedcba987654", "build", "bin"), { recursive: true });
    const r = await runCli(["engine", "list", "--json"], { env: { EDGELM_HOME: home } });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const prebuilt = out.engines.find((e: { kind: string }) => e.kind === "prebuilt");
    assert.equal(prebuilt.backend, "node-llama-cpp");
    assert.equal(prebuilt.available, true);
    assert.match(prebuilt.description, /node-llama-cpp 3\.21\.1 prebuilt/);
    const local = out.engines.find((e: { kind: string }) => e.kind === "local build");
    assert.equal(local.available, findLocalNodeLlamaCppBuild() !== undefined);
    const server = out.engines.find((e: { kind: string }) => e.kind === "built");
    assert.equal(server.backend, "llama-server");
    assert.equal(server.available, true);
    assert.equal(server.path, record.binary);
    // A record without the probe's choice: made before instruction sets were probed; smoke-tested at first use.
    assert.match(server.description, /llama\.cpp 0123456789ab \(-march=native, built before instruction sets were probed, OpenMP\); not smoke-tested on this CPU yet/);
    const unfinished = out.engines.find((e: { kind: string }) => e.kind === "unfinished build");
    assert.equal(unfinished.available, false);
    assert.equal(out.backend, "auto");
    assert.equal(out.backend_in_use, "llama-server");
    assert.equal(out.llama_server, record.binary);
    assert.equal(out.node_llama_cpp_build, "auto");
    assert.equal(out.node_llama_cpp_in_use, local.available ? "local build" : "prebuilt");

    const configured = await runCli(["engine", "list"], { env: { EDGELM_HOME: home, EDGELM_LLAMA_SERVER: "/opt/llama/llama-server" } });
    assert.equal(configured.code, 0, configured.stderr);
    assert.match(configured.stdout, /llama-server\s+configured\s+no\s+llama-server from engine\.llama_server {2}\/opt\/llama\/llama-server/);
    assert.match(configured.stdout, /engine: auto → llama-server \(\/opt\/llama\/llama-server\)/);
    const node = await runCli(["engine", "list"], { env: { EDGELM_HOME: home, EDGELM_ENGINE: "node-llama-cpp" } });
    assert.match(node.stdout, /engine: node-llama-cpp → node-llama-cpp/);

    const pinned = await runCli(["engine", "list"], { env: { EDGELM_HOME: home, EDGELM_NODE_LLAMA_CPP_BUILD: "prebuilt" } });
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.match(pinned.stdout, /node-llama-cpp\s+prebuilt\s+yes \(used\)/);
    assert.match(pinned.stdout, /node-llama-cpp build: prebuilt/);
  });

  it("names a missing build tool and the package that provides it, before any work", async () => {
    // A PATH with git only: cmake is missing.
    const bin = mkdtempSync(join(tmpdir(), "edgelm-path-"));
    const git = spawnSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).stdout.trim();
    symlinkSync(git, join(bin, "git"));
    const r = await runCli(["engine", "build", "--backend", "node-llama-cpp"], { env: { EDGELM_HOME: home, PATH: bin } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /needs cmake, which was not found on PATH; install it \(Debian \/ Raspberry Pi OS: sudo apt-get install cmake\)/);
  });

  it("returns at once when llama-server for the bundled llama.cpp version is built, and names a missing compiler", async () => {
    const { home: built, cleanup: done } = tempHome();
    try {
      const dir = llamaServerBuildDirectory(built);
      mkdirSync(join(dir, "bin"), { recursive: true });
      const binary = join(dir, "bin", "llama-server");
      // A real binary: a build found at once is still smoke-tested on this CPU before it is trusted.
      copyFileSync(await testLlamaServer(), binary);
      writeFileSync(join(dir, "engine.json"), JSON.stringify({ backend: "llama-server", binary, commit: llamaCppBundleCommit(), version: "1", openmp: true, cmakeOptions: {}, builtAt: new Date().toISOString(), seconds: 1 }));
      const r = await runCli(["engine", "build"], { env: { EDGELM_HOME: built }, timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /already built \(--rebuild to build it again\): .*; smoke test passed on this CPU\n {2}.*llama-server/);
      // Without a C++ compiler on PATH (git and cmake only), --rebuild stops before any work and says what to install.
      const bin = mkdtempSync(join(tmpdir(), "edgelm-path-"));
      for (const tool of ["git", "cmake"]) {
        const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
        symlinkSync(found, join(bin, tool));
      }
      const noCompiler = await runCli(["engine", "build", "--rebuild"], { env: { EDGELM_HOME: built, PATH: bin } });
      assert.equal(noCompiler.code, 2, noCompiler.stderr);
      assert.match(noCompiler.stderr, /needs a C\+\+ compiler \(c\+\+\), which was not found on PATH; install it \(Debian \/ Raspberry Pi OS: sudo apt-get install g\+\+\)/);
    } finally {
      done();
    }
  });

  it("rejects an unknown backend and bad --jobs with a usage error", async () => {
    const bad = await runCli(["engine", "build", "--backend", "vllm"], { env: { EDGELM_HOME: home } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--backend must be llama-server, node-llama-cpp or trainer \(got "vllm"\)/);
    const jobs = await runCli(["engine", "build", "--jobs", "0"], { env: { EDGELM_HOME: home } });
    assert.equal(jobs.code, 2);
    assert.match(jobs.stderr, /--jobs must be between 1 and 256/);
  });

  it("uses the on-device build only when it exists, and says so clearly when it is asked for but missing", async () => {
    const r = await runCli(["run", "Once upon a time", "-n", "3", "--json"], {
      env: { EDGELM_HOME: home, EDGELM_NODE_LLAMA_CPP_BUILD: "local", EDGELM_TUNE_THREADS: "0" },
    });
    if (findLocalNodeLlamaCppBuild()) {
      assert.equal(r.code, 0, r.stderr);
    } else {
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /no usable on-device node-llama-cpp build .*edgelm engine build --backend node-llama-cpp/);
    }
  });
});
