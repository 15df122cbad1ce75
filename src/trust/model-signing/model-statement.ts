/**
 * The signed payload of OpenSSF Model Signing: an in-toto Statement v1 with
 * predicateType https://model_signing/signature/v1.0. Its one subject names the
 * model and carries the root digest; `predicate.resources` lists every file
 * with its digest and `predicate.serialization` says how the files were chosen
 * and hashed. Parsing works on the decoded payload bytes the signature covers.
 */
import { EdgeError } from "../../errors.js";
import { compareResourceNames, rootDigestOf, type ModelResource } from "./model-resource.js";

export const IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
export const MODEL_SIGNING_PREDICATE_TYPE = "https://model_signing/signature/v1.0";
/** The experimental v0.2 predicate; still found on old signatures. */
const LEGACY_PREDICATE_TYPE = "https://model_signing/Digests/v0.1";

export interface SignedResource {
  name: string;
  algorithm: string;
  /** Lower-case hex. */
  digest: string;
}

export interface Serialization {
  /** "files" (one resource per file) or "shards" (per byte range). */
  method: string;
  hashType: string;
  allowSymlinks: boolean;
  /** Paths relative to the model root that were left out when signing. */
  ignorePaths: string[];
  shardSize?: number;
}

export interface ModelStatement {
  modelName: string;
  rootDigest: string;
  resources: SignedResource[];
  serialization: Serialization;
}

function malformed(message: string): EdgeError {
  return new EdgeError("signature_invalid", `model.sig's signed statement is malformed: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readSerialization(value: unknown): Serialization {
  if (!isObject(value)) throw malformed("predicate.serialization is missing");
  const { method, hash_type: hashType, allow_symlinks: allowSymlinks, ignore_paths: ignorePaths, shard_size: shardSize } = value;
  if (typeof method !== "string") throw malformed("serialization.method is missing");
  if (typeof hashType !== "string") throw malformed("serialization.hash_type is missing");
  if (typeof allowSymlinks !== "boolean") throw malformed("serialization.allow_symlinks must be true or false");
  if (ignorePaths !== undefined && (!Array.isArray(ignorePaths) || !ignorePaths.every((p) => typeof p === "string"))) {
    throw malformed("serialization.ignore_paths must be a list of paths");
  }
  const out: Serialization = { method, hashType, allowSymlinks, ignorePaths: (ignorePaths as string[] | undefined) ?? [] };
  if (shardSize !== undefined) {
    // Python writes 1000000000.0 for an integer shard size.
    if (typeof shardSize !== "number" || !Number.isInteger(shardSize) || shardSize <= 0) throw malformed("serialization.shard_size must be a positive integer");
    out.shardSize = shardSize;
  }
  return out;
}

function readResources(value: unknown): SignedResource[] {
  if (!Array.isArray(value)) throw malformed("predicate.resources must be a list");
  const seen = new Set<string>();
  return value.map((item: unknown, i) => {
    if (!isObject(item)) throw malformed(`resources[${i}] is not an object`);
    const { name, algorithm, digest } = item;
    if (typeof name !== "string" || name.length === 0) throw malformed(`resources[${i}].name is missing`);
    if (typeof algorithm !== "string" || algorithm.length === 0) throw malformed(`resources[${i}].algorithm is missing`);
    if (typeof digest !== "string" || !/^(?:[0-9a-fA-F]{2})+$/.test(digest)) throw malformed(`resources[${i}].digest is not hex`);
    if (seen.has(name)) throw malformed(`resource "${name}" is listed twice`);
    seen.add(name);
    return { name, algorithm, digest: digest.toLowerCase() };
  });
}

/**
 * Parses the signed payload bytes and checks the root-digest rule. Throws
 * `unsupported` for another statement or predicate type (e.g. the v0.2 format)
 * and `signature_invalid` for a malformed or inconsistent statement.
 */
export function parseModelStatement(payload: Uint8Array): ModelStatement {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    throw malformed("the payload is not JSON");
  }
  if (!isObject(json)) throw malformed("the payload is not a JSON object");
  if (json._type !== IN_TOTO_STATEMENT_TYPE) {
    throw new EdgeError("unsupported", `model.sig's payload is not an in-toto Statement v1 (_type ${JSON.stringify(json._type)})`);
  }
  if (json.predicateType !== MODEL_SIGNING_PREDICATE_TYPE) {
    const legacy = json.predicateType === LEGACY_PREDICATE_TYPE ? " (the experimental v0.2 format; re-sign with model_signing >= 1.0 or `edgelm sign`)" : "";
    throw new EdgeError(
      "unsupported",
      `model.sig has predicate type ${JSON.stringify(json.predicateType)}${legacy}; edgelm verifies ${MODEL_SIGNING_PREDICATE_TYPE}`,
    );
  }
  if (!Array.isArray(json.subject) || json.subject.length !== 1) throw malformed("the statement must have exactly one subject");
  const subject: unknown = json.subject[0];
  if (!isObject(subject) || typeof subject.name !== "string") throw malformed("subject[0].name is missing");
  const digest = isObject(subject.digest) ? subject.digest.sha256 : undefined;
  if (typeof digest !== "string" || !/^[0-9a-fA-F]{64}$/.test(digest)) throw malformed("subject[0].digest.sha256 is missing");
  if (!isObject(json.predicate)) throw malformed("predicate is missing");
  const resources = readResources(json.predicate.resources);
  const serialization = readSerialization(json.predicate.serialization);
  const rootDigest = digest.toLowerCase();
  const computed = rootDigestOf(resources.map((r) => r.digest));
  if (computed !== rootDigest) {
    throw malformed(`the subject's root digest is ${rootDigest} but the listed resources hash to ${computed}`);
  }
  return { modelName: subject.name, rootDigest, resources, serialization };
}

/** Escapes non-ASCII as \uXXXX, as Python's json.dumps does by default. */
function asciiJson(text: string): string {
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export interface StatementInput {
  modelName: string;
  /** Sorted here as the reference implementation sorts them. */
  resources: readonly ModelResource[];
  allowSymlinks: boolean;
  ignorePaths: readonly string[];
}

/**
 * The payload bytes `edgelm sign` signs: the statement as the reference
 * implementation lays it out (2-space indented JSON; keys in the order its
 * v1.0 releases and golden test payloads use — v1.1 writes the predicate's
 * keys in hash order; resources sorted by path; no trailing newline).
 */
export function encodeModelStatement(input: StatementInput): Buffer {
  const resources = [...input.resources].sort((a, b) => compareResourceNames(a.name, b.name));
  const serialization: Record<string, unknown> = { method: "files", hash_type: "sha256", allow_symlinks: input.allowSymlinks };
  if (input.ignorePaths.length > 0) serialization.ignore_paths = [...input.ignorePaths];
  const statement = {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: [{ name: input.modelName, digest: { sha256: rootDigestOf(resources.map((r) => r.sha256)) } }],
    predicateType: MODEL_SIGNING_PREDICATE_TYPE,
    predicate: {
      serialization,
      resources: resources.map((r) => ({ algorithm: "sha256", digest: r.sha256, name: r.name })),
    },
  };
  return Buffer.from(asciiJson(JSON.stringify(statement, null, 2)), "utf8");
}
