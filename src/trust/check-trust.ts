/**
 * The trust policy: given a model, what vouches for it — the built-in demo's
 * pinned hash, a valid OpenSSF Model Signing signature from a trusted signer,
 * or nothing — and, under `trust.require_signature`, refusal of anything else.
 * Runs before a model's bytes reach native code.
 */
import { lstat, readFile, stat } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import type { Config } from "../config/schema.js";
import { DEMO_MODEL_PATH, DEMO_MODEL_SHA256 } from "../demo/demo-model-file.js";
import { EdgeError, isEdgeError, toEdgeError } from "../errors.js";
import { logger } from "../log.js";
import { trustAnchorsFromConfig } from "./config-trust-anchors.js";
import { sha256File } from "./file-hash.js";
import { SIGNATURE_FILE_NAME } from "./model-signing/ignore-paths.js";
import type { ModelResource } from "./model-signing/model-resource.js";
import { parseModelStatement } from "./model-signing/model-statement.js";
import { parseSignatureBundle } from "./model-signing/signature-bundle.js";
import { describeSigner, type Signer } from "./model-signing/signer.js";
import type { TrustAnchors } from "./model-signing/trust-anchors.js";
import { verifyModelSignature, type ModelContent } from "./model-signing/verify-model-signature.js";

/** A model as the trust policy sees it. */
export type TrustSubject =
  /** A bare file or folder: hashed, with a `model.sig` beside the file or in the folder. `sha256` skips re-hashing a file. */
  | { kind: "path"; path: string; sha256?: string }
  /** Files already hashed (a store manifest) and the bytes of their model.sig, if any. */
  | { kind: "files"; name: string; files: readonly ModelResource[]; signature?: Uint8Array };

export type TrustStatus = "pinned" | "signed" | "unsigned" | "invalid";

export interface TrustOutcome {
  status: TrustStatus;
  /** One line for people (list, inspect, logs). */
  summary: string;
  signer?: Signer;
  /** The files the signature covers. */
  files?: ModelResource[];
  /** The model.sig that was checked. */
  signaturePath?: string;
  /** Why the signature failed (status "invalid"). */
  error?: EdgeError;
}

export interface CheckTrustOptions {
  /** Anchors to use instead of reading `config.trust` (e.g. already loaded by a gateway). */
  anchors?: TrustAnchors;
  /** More model-relative paths to leave out when hashing a folder. */
  ignorePaths?: readonly string[];
}

interface FoundSignature {
  bytes: Buffer;
  path: string;
  /** What the signature is checked against. */
  content: ModelContent;
  /** For a file inside a signed folder: its name there, which the signature must cover. */
  member?: string;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() === true;
}

/**
 * Finds the model.sig that speaks for a path: in the folder, or beside the file.
 * Beside a file it may sign that file alone (resource ".", subject named like
 * the file) or the whole folder; a single-file signature for another file
 * speaks for nothing here.
 */
async function findSignature(path: string): Promise<FoundSignature | undefined> {
  const info = await stat(path);
  if (info.isDirectory()) {
    const sigPath = join(path, SIGNATURE_FILE_NAME);
    if (!(await isFile(sigPath))) return undefined;
    return { bytes: await readFile(sigPath), path: sigPath, content: { kind: "path", path } };
  }
  const folder = dirname(path);
  const sigPath = join(folder, SIGNATURE_FILE_NAME);
  if (!(await isFile(sigPath))) return undefined;
  const bytes = await readFile(sigPath);
  const statement = parseModelStatement(parseSignatureBundle(bytes).payload);
  const singleFile = statement.resources.length === 1 && statement.resources[0]!.name === ".";
  if (singleFile) {
    if (statement.modelName !== basename(path)) return undefined;
    return { bytes, path: sigPath, content: { kind: "path", path } };
  }
  return { bytes, path: sigPath, content: { kind: "path", path: folder }, member: relative(folder, path).split(sep).join("/") };
}

async function isDemoModel(path: string, sha256: string | undefined): Promise<boolean> {
  if (sha256 !== undefined) return sha256 === DEMO_MODEL_SHA256;
  // Hash only files of the demo's size: anything else cannot match the pin.
  const [info, demo] = await Promise.all([lstat(path).catch(() => undefined), stat(DEMO_MODEL_PATH).catch(() => undefined)]);
  if (!info?.isFile() || !demo || info.size !== demo.size) return false;
  return (await sha256File(path)) === DEMO_MODEL_SHA256;
}

function unsigned(): TrustOutcome {
  return { status: "unsigned", summary: "unsigned (no model.sig)" };
}

function invalid(error: unknown, signaturePath?: string): TrustOutcome {
  const edge = isEdgeError(error) ? error : toEdgeError(error);
  return { status: "invalid", summary: `signature rejected: ${edge.message}`, error: edge, ...(signaturePath ? { signaturePath } : {}) };
}

async function outcomeFor(subject: TrustSubject, config: Config, options: CheckTrustOptions): Promise<TrustOutcome> {
  if (subject.kind === "files") {
    if (subject.files.length === 1 && subject.files[0]!.sha256 === DEMO_MODEL_SHA256) {
      return { status: "pinned", summary: "trusted: the built-in demo model (pinned sha256)" };
    }
    if (subject.signature === undefined) return unsigned();
    try {
      const verified = await verifyModelSignature(subject.signature, { kind: "files", name: subject.name, files: subject.files }, options.anchors ?? trustAnchorsFromConfig(config), options);
      return { status: "signed", summary: `signed by ${describeSigner(verified.signer)}`, signer: verified.signer, files: verified.resources };
    } catch (error) {
      if (isEdgeError(error) && error.code === "invalid_config") throw error;
      return invalid(error);
    }
  }
  const path = resolve(subject.path);
  if (await isDemoModel(path, subject.sha256)) return { status: "pinned", summary: "trusted: the built-in demo model (pinned sha256)" };
  let found: FoundSignature | undefined;
  try {
    found = await findSignature(path);
  } catch (error) {
    // A model.sig that cannot be parsed is an invalid signature; a model that cannot be read is not a trust question.
    if (!isEdgeError(error)) throw toEdgeError(error, `cannot check the signature of ${path}`);
    return invalid(error, join(dirname(path), SIGNATURE_FILE_NAME));
  }
  if (!found) return unsigned();
  try {
    const known = subject.sha256 !== undefined ? new Map([[path, subject.sha256]]) : undefined;
    const verified = await verifyModelSignature(found.bytes, found.content, options.anchors ?? trustAnchorsFromConfig(config), {
      ...options,
      ...(known ? { knownDigests: known } : {}),
    });
    if (found.member !== undefined && !verified.resources.some((r) => r.name === found.member)) {
      return { status: "unsigned", summary: `unsigned (${found.path} signs its folder but leaves out ${found.member})` };
    }
    return {
      status: "signed",
      summary: `signed by ${describeSigner(verified.signer)}`,
      signer: verified.signer,
      files: verified.resources,
      signaturePath: found.path,
    };
  } catch (error) {
    if (isEdgeError(error) && error.code === "invalid_config") throw error;
    return invalid(error, found.path);
  }
}

function subjectLabel(subject: TrustSubject): string {
  return subject.kind === "path" ? subject.path : subject.name;
}

/**
 * Checks a model against the trust policy and returns what vouches for it.
 * Under `trust.require_signature` it throws instead of returning an unsigned
 * outcome (`signature_missing`) or an invalid one (the failure's own code:
 * `untrusted_signer`, `integrity_mismatch` for files changed after signing,
 * `signature_invalid`, `unsupported`). Without it, an invalid signature is
 * logged as a warning and the outcome returned.
 */
export async function checkTrust(subject: TrustSubject, config: Config, options: CheckTrustOptions = {}): Promise<TrustOutcome> {
  const outcome = await outcomeFor(subject, config, options);
  const label = subjectLabel(subject);
  if (config.trust.require_signature) {
    if (outcome.status === "unsigned") {
      throw new EdgeError(
        "signature_missing",
        `refusing ${label}: it is unsigned and trust.require_signature is on (sign it with \`edgelm sign\` and trust the signer in trust.keys, trust.root_cas or trust.identities)`,
        { details: { model: label } },
      );
    }
    if (outcome.status === "invalid") {
      const error = outcome.error!;
      throw new EdgeError(error.code, `refusing ${label}: ${error.message}`, { details: { model: label, ...error.details } });
    }
  } else if (outcome.status === "invalid") {
    logger.warn(`${label}: ${outcome.error!.message} (loading anyway: trust.require_signature is off)`);
  }
  return outcome;
}
