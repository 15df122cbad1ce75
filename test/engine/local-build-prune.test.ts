/**
 * Pruning a finished node-llama-cpp local build: on a folder laid out the way
 * node-llama-cpp leaves it (its clone of llama.cpp and its CMake tree), only
 * the grammars, the clone's .git and the loadable addon remain.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BUILD_ENTRIES_KEPT, pruneLocalBuild, SOURCE_ENTRIES_KEPT } from "../../src/engine/local-build-prune.js";
import { tempHome } from "../helpers.js";

function file(path: string, bytes: number): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, Buffer.alloc(bytes, 1));
}

describe("pruneLocalBuild", () => {
  let home: string;
  let cleanup: () => void;
  before(() => ({ home, cleanup } = tempHome()));
  after(() => cleanup());

  it("keeps grammars, .git and Release/ + buildDone.status; removes sources and objects and counts their bytes", () => {
    const source = join(home, "llama", "llama.cpp");
    const build = join(home, "llama", "localBuilds", "linux-x64-custom");
    file(join(source, ".git", "HEAD"), 41);
    file(join(source, "grammars", "json.gbnf"), 100);
    file(join(source, "ggml", "src", "ggml.c"), 5000);
    file(join(source, "src", "llama.cpp"), 3000);
    file(join(source, "CMakeLists.txt"), 200);
    file(join(build, "Release", "llama-addon.node"), 4000);
    file(join(build, "Release", "_nlcBuildMetadata.json"), 50);
    file(join(build, "buildDone.status"), 0);
    file(join(build, "CMakeFiles", "addon.dir", "addon.cpp.o"), 7000);
    file(join(build, "llama.cpp", "src", "libllama.a"), 9000);
    const result = pruneLocalBuild(source, build);
    assert.deepEqual(readdirSync(source).sort(), [...SOURCE_ENTRIES_KEPT].sort());
    assert.deepEqual(readdirSync(build).sort(), [...BUILD_ENTRIES_KEPT].sort());
    assert.ok(existsSync(join(source, "grammars", "json.gbnf")));
    assert.ok(existsSync(join(build, "Release", "llama-addon.node")));
    assert.equal(result.freedBytes, 5000 + 3000 + 200 + 7000 + 9000);
    assert.equal(result.removed.length, 5);
    assert.deepEqual(pruneLocalBuild(source, build), { removed: [], freedBytes: 0 }, "a second prune finds nothing left");
  });

  it("leaves an unfinished build (no buildDone.status) and its sources alone", () => {
    const source = join(home, "u", "llama.cpp");
    const build = join(home, "u", "localBuilds", "b");
    file(join(source, "src", "llama.cpp"), 10);
    file(join(build, "Release", "llama-addon.node"), 10);
    file(join(build, "CMakeFiles", "x.o"), 10);
    assert.deepEqual(pruneLocalBuild(source, build), { removed: [], freedBytes: 0 });
    assert.ok(existsSync(join(source, "src", "llama.cpp")));
    assert.ok(existsSync(join(build, "CMakeFiles", "x.o")));
  });
});
