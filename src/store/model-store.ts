/** The content-addressed model store under EDGELM_HOME. */
import type { Config } from "../config/schema.js";
import type { ModelRef } from "./model-ref.js";
import type { ResolvedModel } from "./resolve-model.js";

export function storeNames(_config: Config): string[] {
  return [];
}

export function findInStore(_ref: Extract<ModelRef, { kind: "name" }>, _config: Config): ResolvedModel | undefined {
  return undefined;
}
