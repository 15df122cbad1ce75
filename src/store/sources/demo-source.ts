/** The built-in demo model, by its name (`demo`, `demo:latest`). */
import { DEMO_MODEL_NAME } from "../../demo/demo-model.js";
import { DEMO_MODEL_PATH, DEMO_MODEL_SHA256 } from "../../demo/demo-model-file.js";
import type { ModelSource } from "../model-source.js";
import type { ResolvedModel } from "../resolved-model.js";
import { parseNameRef, type NameRef } from "./name-ref.js";

/** The built-in demo model, its hash pinned in code. */
export function demoModel(): ResolvedModel {
  return { name: DEMO_MODEL_NAME, path: DEMO_MODEL_PATH, source: "demo", expectedSha256: DEMO_MODEL_SHA256 };
}

export const demoSource: ModelSource<NameRef> = {
  kind: "demo",
  parse(text) {
    const ref = parseNameRef(text);
    return ref && ref.name === DEMO_MODEL_NAME ? ref : undefined;
  },
  recognizes(ref) {
    return ref.tag === undefined;
  },
  async resolve(ref) {
    return ref.tag === undefined || ref.tag === "latest" ? demoModel() : undefined;
  },
  names() {
    return [DEMO_MODEL_NAME];
  },
};
