/**
 * The trust rules for the LoRA adapters a served model lists (server.models[].adapters), before any process loads
 * them, on every (re)load like the model itself: each adapter file is verified (SHA-256 against its store manifest;
 * a bare path is hashed) and checked against the trust policy (its model.sig; `trust.require_signature` refuses an
 * unsigned one), and a store adapter's recorded base SHA-256 must be the served model's. What fits the model's
 * shapes is checked by the runner (adapt/lora-adapter.ts's checkAdapterForBase) before llama.cpp sees the files.
 */
import { checkAdapterFits, requireStoreAdapter } from "../adapt/store-adapter.js";
import type { Config } from "../config/schema.js";
import { EdgeError, isEdgeError } from "../errors.js";
import type { AppliedAdapter } from "../store/manifest.js";
import { resolvedFromEntry } from "../store/model-store.js";
import type { ResolvedModel } from "../store/resolved-model.js";
import { checkTrust, type TrustStatus } from "../trust/check-trust.js";
import { trustSubjectFor } from "../trust/trust-subject.js";
import { verifyModel } from "../trust/verify-model.js";

/** One adapter a served model lists: by file path, or by store name (`ref`); exactly one of the two. */
export interface AdapterSpec {
  /** What requests select it by (`model: "<model>+<name>"`). */
  name: string;
  path?: string;
  ref?: string;
  /** The scale a request that selects it without one gets. Default 1. */
  scale?: number;
}

/** An adapter that passed the trust rules: the file to load and what vouched for it. */
export interface PreparedAdapter {
  name: string;
  path: string;
  sha256: string;
  /** Its store entry (`name:tag`), for a store adapter. */
  ref?: string;
  /** The scale a request that names no scale gets (default 1). */
  scale: number;
  trust: TrustStatus;
}

function resolveAdapter(spec: AdapterSpec, config: Config): ResolvedModel & { adapterOf?: { name: string; sha256: string } } {
  if (spec.ref !== undefined) {
    const entry = requireStoreAdapter(config, spec.ref);
    return { ...resolvedFromEntry(entry), adapterOf: entry.manifest.adapter_of! };
  }
  if (spec.path === undefined) throw new EdgeError("usage", `adapter ${spec.name}: give a path or a store name`, { param: "adapters" });
  return { name: spec.path, path: spec.path, source: "path" };
}

/**
 * Verifies every adapter of the model `modelName` (whose file has SHA-256 `modelSha256`). Errors: integrity_mismatch
 * (a changed file, or an adapter made for another base), the trust policy's refusals, model_not_found /
 * unsupported_model for a store name that is no adapter.
 */
export async function prepareAdapters(adapters: readonly AdapterSpec[], modelName: string, modelSha256: string, config: Config): Promise<PreparedAdapter[]> {
  const prepared: PreparedAdapter[] = [];
  for (const spec of adapters) {
    const resolved = resolveAdapter(spec, config);
    const base = resolved.adapterOf;
    if (base && base.sha256 !== modelSha256) {
      throw new EdgeError(
        "integrity_mismatch",
        `adapter ${spec.name} (${resolved.name}) is an adapter of ${base.name} (SHA-256 ${base.sha256.slice(0, 16)}…), and model ${modelName} serves a file with SHA-256 ${modelSha256.slice(0, 16)}…: serve it with its base`,
        { param: "adapters", details: { adapter: spec.name, expected: base.sha256, actual: modelSha256 } },
      );
    }
    const verification = await verifyModel(resolved, config);
    const trust = await checkTrust(trustSubjectFor(resolved, verification), config);
    prepared.push({ name: spec.name, path: resolved.path, sha256: verification.sha256, ...(spec.ref !== undefined ? { ref: resolved.name } : {}), scale: spec.scale ?? 1, trust: trust.status });
  }
  return prepared;
}

/**
 * The adapters a model's store manifest applies to every request (Ollama's ADAPTER, `manifest.adapters`), through
 * the same rules as a served model's adapters (prepareAdapters: hash, trust policy, recorded base), plus two of their
 * own before any process sees them: the adapter entry still holds the file the model was made with (its SHA-256),
 * and the factors fit the model's shapes and architecture. Errors: integrity_mismatch, model_not_found (the adapter
 * entry was removed), unsupported_model, and the trust policy's refusals.
 */
export async function prepareAppliedAdapters(
  applied: readonly AppliedAdapter[],
  model: { name: string; path: string; sha256: string },
  config: Config,
): Promise<PreparedAdapter[]> {
  const prepared: PreparedAdapter[] = [];
  for (const adapter of applied) {
    let entry;
    try {
      entry = requireStoreAdapter(config, adapter.name);
    } catch (error) {
      throw new EdgeError(isEdgeError(error) ? error.code : "model_not_found", `model ${model.name} applies the adapter ${adapter.name}, which is not usable: ${(error as Error).message}`, { param: "adapters" });
    }
    if (entry.model.sha256 !== adapter.sha256) {
      throw new EdgeError(
        "integrity_mismatch",
        `model ${model.name} was made with the adapter ${adapter.name} at SHA-256 ${adapter.sha256.slice(0, 16)}…, and that entry now holds ${entry.model.sha256.slice(0, 16)}…: create the model again with the adapter it should apply`,
        { param: "adapters", details: { adapter: adapter.name, expected: adapter.sha256, actual: entry.model.sha256 } },
      );
    }
    const [one] = await prepareAdapters([{ name: entry.reference, ref: entry.reference, scale: adapter.scale }], model.name, model.sha256, config);
    await checkAdapterFits(one!.path, model);
    prepared.push(one!);
  }
  return prepared;
}
