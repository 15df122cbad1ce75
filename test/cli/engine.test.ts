import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { findLocalNodeLlamaCppBuild } from "../../src/engine/local-build-profile.js";
import { runCli, tempHome } from "../helpers.js";

describe("edgelm engine (CLI, end to end)", () => {
  let home: string;
  let cleanup: () => void;
  before(() => ({ home, cleanup } = tempHome()));
  after(() => cleanup());

  it("lists the prebuilt node-llama-cpp binaries, the on-device build, and llama-server builds in EDGELM_HOME", async () => {
    const fake = join(home, "engines", "llama.cpp-0123456789ab", "build", "bin");
    mkdirSync(fake, { recursive: true });
    writeFileSync(join(fake, "llama-server"), "");
    const r = await runCli(["engine", "list", "--json"], { env: { EDGELM_HOME: home } });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const prebuilt = out.engines.find((e: { kind: string }) => e.kind === "prebuilt");
    assert.equal(prebuilt.backend, "node-llama-cpp");
    assert.equal(prebuilt.available, true);
    assert.match(prebuilt.description, /node-llama-cpp 3\.21\.1 prebuilt/);
    const local = out.engines.find((e: { kind: string }) => e.kind === "local build");
    assert.equal(local.available, findLocalNodeLlamaCppBuild() !== undefined);
    const server = out.engines.find((e: { backend: string }) => e.backend === "llama-server");
    assert.equal(server.kind, "built");
    assert.equal(server.available, true);
    assert.equal(server.path, join(fake, "llama-server"));
    assert.equal(out.node_llama_cpp_build, "auto");
    assert.equal(out.node_llama_cpp_in_use, local.available ? "local build" : "prebuilt");

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

  it("rejects an unknown backend and bad --jobs with a usage error", async () => {
    const bad = await runCli(["engine", "build", "--backend", "vllm"], { env: { EDGELM_HOME: home } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--backend must be llama-server or node-llama-cpp/);
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
