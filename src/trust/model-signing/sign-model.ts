/**
 * Signs a model the way the reference `model_signing` tool does (v1.1 layout):
 * hash the files, build the in-toto statement, sign its DSSE PAE with ECDSA,
 * and wrap it in a Sigstore bundle whose fields and key order match what the
 * reference tool writes, so either tool verifies the other's signatures.
 */
import { createPublicKey, X509Certificate, type KeyObject } from "node:crypto";
import { stat } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { EdgeError } from "../../errors.js";
import { writeFileAtomic } from "../../atomic-write.js";
import { oneLineDn } from "./distinguished-name.js";
import { dssePreAuthEncoding } from "./dsse-pae.js";
import { ecdsaSign, publicKeyHint, samePublicKey } from "./ec-keys.js";
import { hashModelFiles } from "./hash-model-files.js";
import { GIT_PATHS, normalizeIgnorePaths, SIGNATURE_FILE_NAME } from "./ignore-paths.js";
import { rootDigestOf, type ModelResource } from "./model-resource.js";
import { encodeModelStatement } from "./model-statement.js";
import { BUNDLE_MEDIA_TYPES, IN_TOTO_PAYLOAD_TYPE } from "./signature-bundle.js";

export interface SignModelOptions {
  privateKey: KeyObject;
  /** Certificate method: the signing certificate (its key must be `privateKey`'s) ... */
  certificate?: X509Certificate;
  /** ... and the intermediates after it, leaf-most first. */
  chain?: readonly X509Certificate[];
  /** Model-relative paths to leave out (recorded in the signature). */
  ignorePaths?: readonly string[];
  /** Where to write the signature. Default: `model.sig` in the folder, or beside a single file. */
  signaturePath?: string;
  onFile?: (name: string, bytes: number) => void;
}

export interface SignedModel {
  signaturePath: string;
  modelName: string;
  rootDigest: string;
  resources: ModelResource[];
  ignorePaths: string[];
  /** The key hint (key method) or the certificate subject (certificate method). */
  signedBy: string;
}

/** Default signature location: `<folder>/model.sig`, or `model.sig` beside a single-file model. */
export async function defaultSignaturePath(modelPath: string): Promise<string> {
  const path = resolve(modelPath);
  const info = await stat(path).catch(() => undefined);
  return info?.isDirectory() ? join(path, SIGNATURE_FILE_NAME) : join(dirname(path), SIGNATURE_FILE_NAME);
}

/** Builds the bundle bytes for a signed statement payload (compact JSON, the reference tool's key order). */
export function encodeSignatureBundle(payload: Buffer, signature: Buffer, material: Record<string, unknown>): Buffer {
  const bundle = {
    mediaType: BUNDLE_MEDIA_TYPES[0],
    verificationMaterial: { ...material, tlogEntries: [] },
    dsseEnvelope: {
      payload: payload.toString("base64"),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: signature.toString("base64"), keyid: "" }],
    },
  };
  return Buffer.from(JSON.stringify(bundle), "utf8");
}

/** Hashes and signs a model file or folder; writes model.sig atomically. */
export async function signModel(modelPath: string, options: SignModelOptions): Promise<SignedModel> {
  const root = resolve(modelPath);
  const signaturePath = resolve(options.signaturePath ?? (await defaultSignaturePath(root)));
  const publicKey = createPublicKey(options.privateKey);
  if (options.certificate && !samePublicKey(options.certificate.publicKey, publicKey)) {
    throw new EdgeError("invalid_request", `the certificate ${oneLineDn(options.certificate.subject)} is not for this private key`, { param: "--cert" });
  }
  const info = await stat(root).catch(() => undefined);
  const isFolder = info?.isDirectory() === true;
  // As the reference tool records them: git paths always; the signature file when it lies inside the model.
  const sigRelative = relative(root, signaturePath);
  const sigInside = isFolder && sigRelative !== "" && !sigRelative.startsWith("..");
  const ignorePaths = normalizeIgnorePaths([
    ...GIT_PATHS,
    ...(sigInside ? [sigRelative.split(sep).join("/"), SIGNATURE_FILE_NAME] : []),
    ...(isFolder ? (options.ignorePaths ?? []) : []),
  ]);
  const hashed = await hashModelFiles(root, { ignorePaths, ...(options.onFile ? { onFile: options.onFile } : {}) });
  if (hashed.resources.length === 0) throw new EdgeError("invalid_request", `${root} holds no files to sign`);
  const payload = encodeModelStatement({ modelName: hashed.name, resources: hashed.resources, allowSymlinks: false, ignorePaths });
  const signature = ecdsaSign(options.privateKey, dssePreAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload));
  const material = options.certificate
    ? {
        x509CertificateChain: {
          certificates: [options.certificate, ...(options.chain ?? [])].map((c) => ({ rawBytes: c.raw.toString("base64") })),
        },
      }
    : { publicKey: { hint: publicKeyHint(publicKey) } };
  await writeFileAtomic(signaturePath, encodeSignatureBundle(payload, signature, material));
  return {
    signaturePath,
    modelName: hashed.name,
    rootDigest: rootDigestOf(hashed.resources.map((r) => r.sha256)),
    resources: hashed.resources,
    ignorePaths,
    signedBy: options.certificate ? oneLineDn(options.certificate.subject) : publicKeyHint(publicKey),
  };
}
