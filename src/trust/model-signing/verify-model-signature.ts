/**
 * Verifies a model against its OpenSSF Model Signing signature: the bundle's
 * signature with the method its material calls for (key, certificate or
 * Sigstore keyless), then the signed statement (format version, root digest),
 * then the model's files against the signed resources. The model is a path
 * (hashed here) or a list of {name, sha256} (a store manifest: nothing is read).
 *
 * A folder whose model.sig signs a single file (one resource ".") is checked
 * as that file: the one in the folder named by the signature's model name, so
 * `verify <folder>` passes exactly when `verify <folder>/<that file>` does.
 */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { EdgeError } from "../../errors.js";
import { assertResourcesMatch } from "./compare-resources.js";
import { hashModelFiles } from "./hash-model-files.js";
import { DEFAULT_IGNORE_PATHS, isIgnoredPath, normalizeIgnorePaths } from "./ignore-paths.js";
import type { ModelResource } from "./model-resource.js";
import { parseModelStatement } from "./model-statement.js";
import { IN_TOTO_PAYLOAD_TYPE, parseSignatureBundle, type SignatureBundle } from "./signature-bundle.js";
import type { Signer } from "./signer.js";
import type { TrustAnchors } from "./trust-anchors.js";
import { verifyCertificateMethod } from "./verify-certificate-method.js";
import { verifyKeyMethod } from "./verify-key-method.js";
import { verifyKeylessMethod } from "./verify-keyless-method.js";

/** The model a signature is checked against. */
export type ModelContent =
  /** A file or folder on disk; it is hashed. */
  | { kind: "path"; path: string }
  /** Files already hashed (e.g. a store manifest); names relative to the model root. */
  | { kind: "files"; name: string; files: readonly ModelResource[] };

export interface VerifyModelSignatureOptions {
  /** More model-relative paths to leave out (the caller's --ignore-paths). */
  ignorePaths?: readonly string[];
  /** Progress while hashing: each file's name and size in bytes. */
  onFile?: (name: string, bytes: number) => void;
  /** Digests already computed (absolute path → hex SHA-256); those files are not read again. */
  knownDigests?: ReadonlyMap<string, string>;
}

export interface VerifiedModel {
  signer: Signer;
  /** The model name the signature records (informative only). */
  modelName: string;
  rootDigest: string;
  /** The files the signature covers, in payload order. */
  resources: ModelResource[];
  /** Every model-relative path left out of the comparison. */
  ignorePaths: string[];
  /**
   * A folder checked against a single-file signature: the file it signs
   * (absolute path), and the folder's other entries, which it does not cover.
   */
  signedFile?: { path: string; notCovered: string[] };
}

/**
 * The file a single-file signature in `folder` speaks for: `folder/<modelName>`.
 * Throws `integrity_mismatch` when the folder holds no such file.
 */
async function signedFileInFolder(folder: string, modelName: string, ignorePaths: readonly string[]): Promise<{ path: string; notCovered: string[] }> {
  const plainName = modelName !== "" && modelName !== "." && modelName !== ".." && !modelName.includes("/");
  const path = join(folder, modelName);
  const info = plainName ? await lstat(path).catch(() => undefined) : undefined;
  if (!info || info.isDirectory()) {
    throw new EdgeError(
      "integrity_mismatch",
      `model.sig in ${folder} signs the single file "${modelName}", which is not in that folder (verify the signed file itself, or sign the folder)`,
      { details: { folder, signed_file: modelName } },
    );
  }
  const others = (await readdir(folder)).filter((name) => name !== modelName && !isIgnoredPath(name, ignorePaths)).sort();
  return { path, notCovered: others };
}

/** Checks the bundle's signature with the method its material calls for; returns who signed. */
export function verifyBundleSignature(bundle: SignatureBundle, anchors: TrustAnchors): Signer {
  if (bundle.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new EdgeError("unsupported", `model.sig's DSSE payload type is "${bundle.payloadType}"; OpenSSF Model Signing uses ${IN_TOTO_PAYLOAD_TYPE}`);
  }
  switch (bundle.material.kind) {
    case "public-key":
      return verifyKeyMethod(bundle, anchors.keys);
    case "certificate-chain":
      return verifyCertificateMethod(bundle, anchors.rootCas);
    case "keyless":
      return verifyKeylessMethod(bundle, anchors.identities, anchors.sigstoreTrustedRoot);
  }
}

function describeModel(model: ModelContent): string {
  return model.kind === "path" ? model.path : model.name;
}

/**
 * Verifies `signature` (the bytes of a model.sig) for `model` against `anchors`.
 * Throws an EdgeError whose code says what failed: `signature_invalid` (altered
 * or malformed), `untrusted_signer` (valid, but not by anyone trusted),
 * `integrity_mismatch` (files added, removed or changed after signing),
 * `unsupported` (another format version, method or hash; a symlink).
 */
export async function verifyModelSignature(
  signature: Uint8Array,
  model: ModelContent,
  anchors: TrustAnchors,
  options: VerifyModelSignatureOptions = {},
): Promise<VerifiedModel> {
  const bundle = parseSignatureBundle(signature);
  const signer = verifyBundleSignature(bundle, anchors);
  const statement = parseModelStatement(bundle.payload);
  const { serialization } = statement;
  if (serialization.method !== "files") {
    throw new EdgeError("unsupported", `model.sig uses serialization method "${serialization.method}"; edgelm verifies "files" (sign without sharding)`);
  }
  if (serialization.hashType !== "sha256") {
    throw new EdgeError("unsupported", `model.sig hashes files with ${serialization.hashType}; edgelm verifies sha256`);
  }
  for (const r of statement.resources) {
    if (r.algorithm !== "sha256" || r.digest.length !== 64) {
      throw new EdgeError("unsupported", `model.sig lists ${r.name} with algorithm ${r.algorithm}; edgelm verifies sha256`);
    }
  }
  const signed: ModelResource[] = statement.resources.map((r) => ({ name: r.name, sha256: r.digest }));
  const ignorePaths = normalizeIgnorePaths([...DEFAULT_IGNORE_PATHS, ...serialization.ignorePaths, ...(options.ignorePaths ?? [])]);
  const singleFile = signed.length === 1 && signed[0]!.name === ".";
  let actual: ModelResource[];
  let signedFile: VerifiedModel["signedFile"];
  if (model.kind === "path") {
    const isFolder = (await lstat(model.path).catch(() => undefined))?.isDirectory() === true;
    if (singleFile && isFolder) signedFile = await signedFileInFolder(model.path, statement.modelName, ignorePaths);
    const hashed = await hashModelFiles(signedFile?.path ?? model.path, {
      ignorePaths,
      allowSymlinks: serialization.allowSymlinks,
      ...(options.onFile ? { onFile: options.onFile } : {}),
      ...(options.knownDigests ? { knownDigests: options.knownDigests } : {}),
    });
    if (singleFile !== (hashed.kind === "file")) {
      throw new EdgeError(
        "integrity_mismatch",
        singleFile
          ? `model.sig covers a single-file model, but ${model.path} is a folder`
          : `model.sig covers a folder of ${signed.length} files, but ${model.path} is a single file`,
      );
    }
    actual = hashed.resources;
  } else {
    actual = model.files.filter((f) => !isIgnoredPath(f.name, ignorePaths));
  }
  assertResourcesMatch(signed, actual, describeModel(model));
  return { signer, modelName: statement.modelName, rootDigest: statement.rootDigest, resources: signed, ignorePaths, ...(signedFile ? { signedFile } : {}) };
}
