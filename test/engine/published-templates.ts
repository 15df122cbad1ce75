/**
 * Test data from outside the project, read where it ships: the chat templates
 * that model publishers wrote (llama.cpp keeps copies of them in its
 * `models/templates/`), taken from the llama.cpp source node-llama-cpp ships
 * (its git bundle) at test time. Nothing of them is copied into the repository.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { llamaCppBundleCommit, llamaCppBundlePath } from "../../src/engine/llama-cpp-source.js";

let clone: string | undefined;

/** The text of `models/templates/<file>` in the bundled llama.cpp source (one bare clone per test process). */
export function publishedTemplate(file: string): string {
  if (!clone || !existsSync(clone)) {
    clone = join(mkdtempSync(join(tmpdir(), "edgelm-templates-")), "llama.cpp.git");
    execFileSync("git", ["clone", "--quiet", "--bare", llamaCppBundlePath(), clone]);
    process.once("exit", () => rmSync(join(clone!, ".."), { recursive: true, force: true }));
  }
  return execFileSync("git", ["--git-dir", clone, "show", `${llamaCppBundleCommit()}:models/templates/${file}`], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
}
