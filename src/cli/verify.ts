/**
 * `edgelm verify <model>`: check a model file or folder, or a model in the
 * store (`name[:tag]`), against its model.sig (OpenSSF Model Signing) with a
 * key, root CAs, or a Sigstore identity — from the flags, or else from the
 * `trust` config section. Prints who signed and which files are covered;
 * exits non-zero with the precise reason otherwise.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import type { Config } from "../config/schema.js";
import { EdgeError, toEdgeError } from "../errors.js";
import { looksLikePath } from "../store/model-ref.js";
import { ModelStore, resolvedFromEntry } from "../store/model-store.js";
import { trustAnchorsFromConfig } from "../trust/config-trust-anchors.js";
import { ignorePathsFromUser } from "../trust/model-signing/ignore-paths.js";
import { defaultSignaturePath } from "../trust/model-signing/sign-model.js";
import { describeSigner } from "../trust/model-signing/signer.js";
import { hasNoAnchors, loadTrustAnchors, type TrustAnchors } from "../trust/model-signing/trust-anchors.js";
import { verifyModelSignature, type ModelContent, type VerifiedModel } from "../trust/model-signing/verify-model-signature.js";
import { verifyModel } from "../trust/verify-model.js";
import { action, collect, commandConfig, usageError } from "./cli-kit.js";
import { formatBytes, printTable } from "./format.js";
import { terminalProgress } from "./progress-bar.js";

interface VerifyFlags {
  key?: string[];
  rootCa?: string[];
  identity?: string;
  issuer?: string;
  trustedRoot?: string;
  signature?: string;
  ignorePaths?: string[];
  json?: boolean;
  config?: string;
}

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description("verify a model file or folder, or a model in the store, against its model.sig (OpenSSF Model Signing); prints who signed it and which files")
    .argument("<model>", "a model file or folder, or a store name (name[:tag])")
    .option("-k, --key <public.pem>", "trust this public key (key method; repeatable)", collect)
    .option("--root-ca <ca.pem>", "trust this root CA (certificate method; repeatable)", collect)
    .option("--identity <san>", "trust this Sigstore keyless signer (certificate SAN; with --issuer)")
    .option("--issuer <url>", "the OIDC issuer that --identity signed in with")
    .option("--trusted-root <file>", "Sigstore trusted_root.json for keyless verification (default: trust.trusted_root)")
    .option("--signature <file>", "the signature (default: model.sig in the folder, or beside the file; a store entry's own)")
    .option("--ignore-paths <paths...>", "paths inside the model folder to leave out")
    .option("--json", "print JSON")
    .option("--config <file>", "config file (its trust section is used when no --key/--root-ca/--identity is given)")
    .action(action(verifyCommand));
}

function anchorsFrom(flags: VerifyFlags, trustedRoot: string | undefined): TrustAnchors {
  if ((flags.identity === undefined) !== (flags.issuer === undefined)) {
    throw usageError("--identity and --issuer go together", flags.identity === undefined ? "--identity" : "--issuer");
  }
  return loadTrustAnchors({
    keys: flags.key ?? [],
    rootCas: flags.rootCa ?? [],
    identities: flags.identity !== undefined ? [{ identity: flags.identity, issuer: flags.issuer! }] : [],
    ...(trustedRoot !== undefined ? { sigstoreTrustedRoot: trustedRoot } : {}),
  });
}

/** What is verified: a path on disk, or a store entry re-hashed against its manifest. */
interface VerifyTarget {
  label: string;
  content: ModelContent;
  signaturePath: string;
  /** A store entry without a model.sig. */
  missingHint?: string;
}

function readSignature(target: VerifyTarget): Buffer {
  if (target.missingHint !== undefined) {
    throw new EdgeError("signature_missing", `${target.label} has no signature: ${target.missingHint} (sign the model file, then \`edgelm add <file> --signature model.sig --name ${target.label} --force\`; or name a signature with --signature)`);
  }
  try {
    return readFileSync(target.signaturePath);
  } catch (error) {
    const edge = toEdgeError(error);
    if (edge.code === "file_not_found") {
      throw new EdgeError("signature_missing", `${target.label} has no signature: ${target.signaturePath} does not exist (sign it with \`edgelm sign\`, or name the signature with --signature)`);
    }
    throw toEdgeError(error, `cannot read ${target.signaturePath}`);
  }
}

/**
 * A path when `model` exists on disk or is shaped like one; otherwise a store
 * name, whose blobs are hashed again and checked against its manifest first
 * (so a damaged blob is `integrity_mismatch`, not a passing signature).
 */
async function verifyTarget(model: string, flags: VerifyFlags, config: Config, progress: boolean): Promise<VerifyTarget> {
  if (existsSync(model) || looksLikePath(model)) {
    const root = resolve(model);
    return { label: root, content: { kind: "path", path: root }, signaturePath: resolve(flags.signature ?? (await defaultSignaturePath(root))) };
  }
  const entry = ModelStore.open(config).require(model);
  const reporter = progress ? terminalProgress() : undefined;
  await verifyModel(resolvedFromEntry(entry), config, { reverify: true, ...(reporter ? { progress: reporter } : {}) });
  const files = entry.files.filter((f) => f.role !== "signature").map((f) => ({ name: f.name, sha256: f.sha256 }));
  return {
    label: entry.reference,
    content: { kind: "files", name: entry.reference, files },
    signaturePath: flags.signature !== undefined ? resolve(flags.signature) : (entry.signature?.path ?? ""),
    ...(flags.signature === undefined && !entry.signature ? { missingHint: "its store entry holds no model.sig" } : {}),
  };
}

async function verifyCommand(model: string, flags: VerifyFlags): Promise<void> {
  const config = commandConfig(flags);
  const trustedRoot = flags.trustedRoot ?? config.trust.trusted_root;
  let anchors = anchorsFrom(flags, trustedRoot);
  if (hasNoAnchors(anchors)) anchors = trustAnchorsFromConfig(config);
  if (hasNoAnchors(anchors)) {
    throw usageError("say whom to trust: --key public.pem, --root-ca ca.pem, or --identity <san> --issuer <url> (or configure trust.keys, trust.root_cas, trust.identities)");
  }
  const progress = process.stderr.isTTY && !flags.json;
  const target = await verifyTarget(model, flags, config, progress);
  const signature = readSignature(target);
  const root = target.content.kind === "path" ? target.content.path : undefined;
  const verified = await verifyModelSignature(signature, target.content, anchors, {
    ignorePaths: root !== undefined ? ignorePathsFromUser(root, flags.ignorePaths ?? []) : (flags.ignorePaths ?? []),
    ...(progress ? { onFile: (name: string, bytes: number) => process.stderr.write(`hashed ${name} (${formatBytes(bytes)})\n`) } : {}),
  });
  printVerified(target, verified, flags.json === true);
}

function printVerified(target: VerifyTarget, verified: VerifiedModel, json: boolean): void {
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        verified: true,
        model: target.label,
        signature: target.signaturePath,
        method: verified.signer.method,
        signer: verified.signer,
        signed_by: describeSigner(verified.signer),
        model_name: verified.modelName,
        root_digest: verified.rootDigest,
        files: verified.resources,
        ignored: verified.ignorePaths,
        ...(verified.signedFile ? { signed_file: verified.signedFile.path, not_covered: verified.signedFile.notCovered } : {}),
      })}\n`,
    );
    return;
  }
  const out = process.stdout;
  out.write(`verified ${target.label} (OpenSSF Model Signing, ${verified.signer.method} method)\n`);
  printTable(out, [
    ["signed by", describeSigner(verified.signer)],
    ["signature", target.signaturePath],
    ["model name", verified.modelName],
    ["root digest", `sha256:${verified.rootDigest}`],
    ["ignored", verified.ignorePaths.join(", ")],
    ...(verified.signedFile
      ? [
          ["signed file", `${verified.signedFile.path} (a single-file signature)`],
          ["not covered", verified.signedFile.notCovered.length > 0 ? verified.signedFile.notCovered.join(", ") : "-"],
        ]
      : []),
  ]);
  out.write(`  files (${verified.resources.length})\n`);
  printTable(out, verified.resources.map((r) => [r.name, r.sha256]), "    ");
}
