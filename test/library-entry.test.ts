import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, describe, it } from "node:test";
import { REPO_ROOT, tempHome } from "./helpers.js";

const INDEX = pathToFileURL(join(REPO_ROOT, "dist/src/index.js")).href;
const { home, cleanup } = tempHome();
after(cleanup);

// A module-resolution hook that reports every import of node-llama-cpp on stderr.
writeFileSync(
  join(home, "hooks.mjs"),
  'export async function resolve(specifier, context, next) { if (specifier === "node-llama-cpp") process.stderr.write("LOADED node-llama-cpp\\n"); return next(specifier, context); }\n',
);
writeFileSync(join(home, "register.mjs"), `import { register } from "node:module"; register(${JSON.stringify(pathToFileURL(join(home, "hooks.mjs")).href)});\n`);

/** Runs `script` (an ES module body) with the hook; returns what it printed. */
function run(script: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", pathToFileURL(join(home, "register.mjs")).href, "--input-type=module", "-e", script], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, EDGELM_HOME: home },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("the library entry point", () => {
  it("loads no engine on import, and the node-llama-cpp backend on first use", () => {
    const imported = run(`const edgelm = await import(${JSON.stringify(INDEX)}); console.log(typeof edgelm.EdgeNode, typeof edgelm.Gateway);`);
    assert.equal(imported.status, 0, imported.stderr);
    assert.equal(imported.stdout.trim(), "function function");
    assert.doesNotMatch(imported.stderr, /LOADED node-llama-cpp/);

    const used = run(`const edgelm = await import(${JSON.stringify(INDEX)}); const Backend = await edgelm.loadNodeLlamaCppBackend(); console.log(Backend.name);`);
    assert.equal(used.status, 0, used.stderr);
    assert.equal(used.stdout.trim(), "NodeLlamaCppBackend");
    assert.match(used.stderr, /LOADED node-llama-cpp/);
  });
});
