/**
 * Turns a model reference into a file on this machine. Order (see docs/models.md):
 * nothing → the built-in demo model; a path or hf: → literal; `name[:tag]` → the
 * store, then the catalog; anything else is an error with the closest suggestion.
 */
import { statSync } from "node:fs";
import { basename, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { DEMO_MODEL_NAME } from "../demo/demo-model.js";
import { DEMO_MODEL_PATH, DEMO_MODEL_SHA256 } from "../demo/demo-model-file.js";
import { EdgeError } from "../errors.js";
import { catalogNames, findInCatalog } from "./catalog.js";
import { fetchHfModel, pullCatalogModel } from "./pull.js";
import { closestMatch, parseModelRef, type ModelRef } from "./model-ref.js";
import type { FileRole, Manifest } from "./manifest.js";
import { findInStore, storeNames } from "./model-store.js";
import { resolveOci } from "./oci/oci-source.js";

export type ModelSource = "demo" | "path" | "store" | "hf" | "catalog";

/** One file of a store entry: its manifest digest and where its bytes are on this machine. */
export interface ResolvedFile {
  /** Name relative to the model root, as in the manifest (and in a signature). */
  name: string;
  role: FileRole;
  sha256: string;
  size: number;
  /** Local path (a blob, for store entries). */
  path: string;
}

export interface ResolvedModel {
  /** Name to show and serve under (`name:tag` for store entries). */
  name: string;
  path: string;
  source: ModelSource;
  /** The SHA-256 the file must have, when something vouches for it (a pin or a manifest). */
  expectedSha256?: string;
  /** Store entries: the manifest that vouches for the files. */
  manifest?: Manifest;
  /** Store entries: every file (the model among them) with its manifest digest, checked on every load. */
  files?: ResolvedFile[];
  /** Store entries: the path of the entry's model.sig, when it has one. */
  signaturePath?: string;
}

export const DEMO_NOTICE =
  "using the built-in demo model (a word-bigram toy for offline smoke tests); pull a real model with `edgelm pull <name>`";

export function demoModel(): ResolvedModel {
  return { name: DEMO_MODEL_NAME, path: DEMO_MODEL_PATH, source: "demo", expectedSha256: DEMO_MODEL_SHA256 };
}

export interface ResolveOptions {
  /** May the resolver download? Default true. */
  allowDownload?: boolean;
  /** Progress output for downloads (a TTY); quiet when absent. */
  progress?: NodeJS.WritableStream;
}

/** Names known to the store and the catalog, for suggestions and for telling models from prompts. */
function knownNames(config: Config): string[] {
  return [...storeNames(config), ...catalogNames()];
}

/** Does this text name a model (an existing file, an hf: ref, a known name)? Never downloads. */
export async function isModelReference(text: string, config: Config): Promise<boolean> {
  let ref: ModelRef;
  try {
    ref = parseModelRef(text);
  } catch {
    return false;
  }
  if (ref.kind === "hf" || ref.kind === "oci") return true;
  if (ref.kind === "path") return statSafe(resolve(ref.path)) !== undefined || /\.gguf$/i.test(ref.path);
  if (ref.name === DEMO_MODEL_NAME && ref.tag === undefined) return true;
  const full = ref.tag ? `${ref.name}:${ref.tag}` : ref.name;
  return knownNames(config).some((n) => n === full || n.split(":")[0] === full);
}

function statSafe(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

export async function resolveModel(text: string | undefined, config: Config, options: ResolveOptions = {}): Promise<ResolvedModel> {
  if (text === undefined) return demoModel();
  const ref = parseModelRef(text);
  switch (ref.kind) {
    case "path": {
      const path = resolve(ref.path.startsWith("~/") ? ref.path.replace("~", process.env.HOME ?? "~") : ref.path);
      const stat = statSafe(path);
      if (!stat) {
        const hint = /\.gguf$/i.test(path) ? "" : " (and it is not a model name: names look like smollm2:360m)";
        throw new EdgeError("file_not_found", `model file ${path} does not exist${hint}`, { param: "model" });
      }
      if (stat.isDirectory()) throw new EdgeError("not_a_file", `${path} is a directory; give the path of a .gguf file`, { param: "model" });
      if (!stat.isFile()) throw new EdgeError("not_a_file", `${path} is not a regular file`, { param: "model" });
      return { name: basename(path).replace(/\.gguf$/i, ""), path, source: "path" };
    }
    case "oci":
      return resolveOci(ref, config, options); // from the store when pulled before
    case "hf":
      return fetchHfModel(ref, config, options); // from the store when downloaded before; else pulled unless allowDownload is false
    case "name": {
      if (ref.name === DEMO_MODEL_NAME && (ref.tag === undefined || ref.tag === "latest")) return demoModel();
      const stored = findInStore(ref, config);
      if (stored) return stored;
      const entry = findInCatalog(ref);
      if (entry) return pullCatalogModel(entry, config, options); // from the store when pulled before
      const full = ref.tag ? `${ref.name}:${ref.tag}` : ref.name;
      const suggestion = closestMatch(full, [DEMO_MODEL_NAME, ...knownNames(config)]);
      throw new EdgeError(
        "model_not_found",
        `unknown model "${full}"${suggestion ? `; did you mean "${suggestion}"?` : ""} (see \`edgelm pull --list\` and \`edgelm list\`)`,
        { param: "model", ...(suggestion ? { details: { suggestion } } : {}) },
      );
    }
  }
}
