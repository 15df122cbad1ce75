import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { REPO_ROOT, tempHome } from "../helpers.js";

const SCRIPT = join(REPO_ROOT, "scripts/check-import-cycles.mjs");

interface Circle {
  rooms: string[];
  files: string[];
  path: string[];
}

/** Writes a source tree (path → text) under a fresh folder and runs the checker on it. */
function check(files: Record<string, string>, extraArgs: string[] = []): { code: number | null; circles: Circle[]; stderr: string } {
  const { home, cleanup } = tempHome();
  cleanups.push(cleanup);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(home, path)), { recursive: true });
    writeFileSync(join(home, path), text);
  }
  const run = spawnSync(process.execPath, [SCRIPT, "--root", home, "--json", ...extraArgs], { encoding: "utf8" });
  return { code: run.status, circles: run.stdout ? (JSON.parse(run.stdout) as Circle[]) : [], stderr: run.stderr };
}
const cleanups: Array<() => void> = [];
after(() => cleanups.forEach((c) => c()));

describe("import-circle check", () => {
  it("finds a circle between rooms, type-only and re-export imports included", () => {
    const result = check({
      "a/one.ts": 'import type { Two } from "../b/two.js";\nexport interface One { two: Two }\n',
      "b/two.ts": 'export * from "./three.js";\nexport interface Two { n: number }\n',
      "b/three.ts": 'import {\n  x,\n} from "../a/one.js";\nexport const y = x;\n',
    });
    assert.equal(result.code, 1);
    assert.equal(result.circles.length, 1);
    assert.deepEqual(result.circles[0]!.rooms, ["a", "b"]);
    assert.deepEqual(result.circles[0]!.path, ["a/one.ts", "b/two.ts", "b/three.ts", "a/one.ts"]);
  });

  it("allows a circle inside one room, but not inside server/ or another strict room", () => {
    const circle = {
      "x/one.ts": 'import { b } from "./two.js";\nexport const a = b;\n',
      "x/two.ts": 'import { a } from "./one.js";\nexport const b = 1; void a;\n',
    };
    assert.equal(check(circle).code, 0);
    const inServer = check(Object.fromEntries(Object.entries(circle).map(([p, t]) => [p.replace("x/", "server/"), t])));
    assert.equal(inServer.code, 1);
    assert.deepEqual(inServer.circles[0]!.rooms, ["server"]);
    assert.equal(check(circle, ["--strict", "x"]).code, 1);
  });

  it("ignores dynamic imports, JSDoc examples and package imports", () => {
    const result = check({
      "a/one.ts": '/**\n * import { y } from "../b/two.js";\n */\nimport { readFileSync } from "node:fs";\nexport const load = () => import("../b/two.js");\nvoid readFileSync;\n',
      "b/two.ts": 'import { load } from "../a/one.js";\nexport const y = load;\n',
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.circles, []);
  });

  it("counts a file at the root as a room of its own", () => {
    const result = check({
      "index.ts": 'export { a } from "./a/one.js";\n',
      "a/one.ts": 'import "../index.js";\nexport const a = 1;\n',
    });
    assert.equal(result.code, 1);
    assert.deepEqual(result.circles[0]!.rooms, ["a", "index.ts"]);
  });
});
