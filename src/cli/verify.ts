/**
 * `edgelm verify <model>`: check a model file or folder against its model.sig
 * (OpenSSF Model Signing) with a key, root CAs, or a Sigstore identity — from
 * the flags, or else from the `trust` config section. Prints who signed and
 * which files are covered; exits non-zero with the precise reason otherwise.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { EdgeError, toEdgeError } from "../errors.js";
import { trustAnchorsFromConfig } from "../trust/config-trust-anchors.js";
import { ignorePathsFromUser } from "../trust/model-signing/ignore-paths.js";
import { defaultSignaturePath } from "../trust/model-signing/sign-model.js";
import { describeSigner } from "../trust/model-signing/signer.js";
import { hasNoAnchors, loadTrustAnchors, type TrustAnchors } from "../trust/model-signing/trust-anchors.js";
import { verifyModelSignature } from "../trust/model-signing/verify-model-signature.js";
import { action, collect, commandConfig, usageError } from "./cli-kit.js";
import { formatBytes, printTable } from "./format.js";

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
    .description("verify a model file or folder against its model.sig (OpenSSF Model Signing); prints who signed it and which files")
    .argument("<model>", "a model file or folder")
    .option("-k, --key <public.pem>", "trust this public key (key method; repeatable)", collect)
    .option("--root-ca <ca.pem>", "trust this root CA (certificate method; repeatable)", collect)
    .option("--identity <san>", "trust this Sigstore keyless signer (certificate SAN; with --issuer)")
    .option("--issuer <url>", "the OIDC issuer that --identity signed in with")
    .option("--trusted-root <file>", "Sigstore trusted_root.json for keyless verification (default: trust.trusted_root)")
    .option("--signature <file>", "the signature (default: model.sig in the folder, or beside the file)")
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

async function verifyCommand(model: string, flags: VerifyFlags): Promise<void> {
  const config = commandConfig(flags);
  const trustedRoot = flags.trustedRoot ?? config.trust.trusted_root;
  let anchors = anchorsFrom(flags, trustedRoot);
  if (hasNoAnchors(anchors)) anchors = trustAnchorsFromConfig(config);
  if (hasNoAnchors(anchors)) {
    throw usageError("say whom to trust: --key public.pem, --root-ca ca.pem, or --identity <san> --issuer <url> (or configure trust.keys, trust.root_cas, trust.identities)");
  }
  const root = resolve(model);
  const signaturePath = resolve(flags.signature ?? (await defaultSignaturePath(root)));
  let signature: Buffer;
  try {
    signature = readFileSync(signaturePath);
  } catch (error) {
    const edge = toEdgeError(error);
    if (edge.code === "file_not_found") {
      throw new EdgeError("signature_missing", `${root} has no signature: ${signaturePath} does not exist (sign it with \`edgelm sign\`, or name the signature with --signature)`);
    }
    throw toEdgeError(error, `cannot read ${signaturePath}`);
  }
  const progress = process.stderr.isTTY && !flags.json;
  const verified = await verifyModelSignature(signature, { kind: "path", path: root }, anchors, {
    ignorePaths: ignorePathsFromUser(root, flags.ignorePaths ?? []),
    ...(progress ? { onFile: (name: string, bytes: number) => process.stderr.write(`hashed ${name} (${formatBytes(bytes)})\n`) } : {}),
  });
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({
        verified: true,
        model: root,
        signature: signaturePath,
        method: verified.signer.method,
        signer: verified.signer,
        signed_by: describeSigner(verified.signer),
        model_name: verified.modelName,
        root_digest: verified.rootDigest,
        files: verified.resources,
        ignored: verified.ignorePaths,
      })}\n`,
    );
    return;
  }
  const out = process.stdout;
  out.write(`verified ${root} (OpenSSF Model Signing, ${verified.signer.method} method)\n`);
  printTable(out, [
    ["signed by", describeSigner(verified.signer)],
    ["signature", signaturePath],
    ["model name", verified.modelName],
    ["root digest", `sha256:${verified.rootDigest}`],
    ["ignored", verified.ignorePaths.join(", ")],
  ]);
  out.write(`  files (${verified.resources.length})\n`);
  printTable(out, verified.resources.map((r) => [r.name, r.sha256]), "    ");
}
