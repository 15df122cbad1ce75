/** A model file by path: `/m.gguf`, `./m.gguf`, `~/m.gguf`, anything ending in `.gguf`, or any text no other kind claims. */
import { statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, resolve } from "node:path";
import { EdgeError } from "../../errors.js";
import type { ModelSource } from "../model-source.js";
import { parseModelRef, type ModelRef } from "../model-ref.js";

type PathRef = Extract<ModelRef, { kind: "path" }>;

function statSafe(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** The absolute path a path reference names (`~/` is the user's home directory). */
export function expandPath(path: string): string {
  return resolve(path.startsWith("~/") ? path.replace("~", homedir()) : path);
}

export const pathSource: ModelSource<PathRef> = {
  kind: "path",
  parse(text) {
    const ref = parseModelRef(text);
    return ref.kind === "path" ? ref : undefined;
  },
  recognizes(ref) {
    return statSafe(resolve(ref.path)) !== undefined || /\.gguf$/i.test(ref.path);
  },
  async resolve(ref) {
    const path = expandPath(ref.path);
    const stat = statSafe(path);
    if (!stat) {
      const hint = /\.gguf$/i.test(path) ? "" : " (and it is not a model name: names look like smollm2:360m)";
      throw new EdgeError("file_not_found", `model file ${path} does not exist${hint}`, { param: "model" });
    }
    if (stat.isDirectory()) throw new EdgeError("not_a_file", `${path} is a directory; give the path of a .gguf file`, { param: "model" });
    if (!stat.isFile()) throw new EdgeError("not_a_file", `${path} is not a regular file`, { param: "model" });
    return { name: basename(path).replace(/\.gguf$/i, ""), path, source: "path" };
  },
  async pull(ref) {
    throw new EdgeError("usage", `pull takes a catalog name or an hf: reference; to import the local file ${ref.path}, use \`edgelm add ${ref.path}\``, {
      param: "ref",
    });
  },
};
