/**
 * `edgelm sign <model>`: write an OpenSSF Model Signing `model.sig` for a model
 * file or folder (key method, or certificate method with --cert), in the
 * layout the reference `model_signing` tool writes.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { toEdgeError } from "../errors.js";
import { parsePrivateKeyPem } from "../trust/model-signing/ec-keys.js";
import { ignorePathsFromUser } from "../trust/model-signing/ignore-paths.js";
import { signModel } from "../trust/model-signing/sign-model.js";
import { certificatesFromPem } from "../trust/model-signing/trust-anchors.js";
import { action, commandConfig, usageError } from "./cli-kit.js";
import { formatBytes } from "./format.js";

interface SignFlags {
  key?: string;
  cert?: string;
  certChain?: string;
  ignorePaths?: string[];
  signature?: string;
  json?: boolean;
  config?: string;
}

export function registerSign(program: Command): void {
  program
    .command("sign")
    .description("sign a model file or folder: writes model.sig (OpenSSF Model Signing, Sigstore bundle)")
    .argument("<model>", "a model file or folder")
    .option("-k, --key <private.pem>", "PEM private key (ECDSA P-256/P-384/P-521); default: trust.local_key")
    .option("--cert <leaf.pem>", "sign with the certificate method: the signing certificate for --key")
    .option("--cert-chain <intermediates.pem>", "intermediate certificates to include after --cert")
    .option("--ignore-paths <paths...>", "paths inside the model folder to leave out (recorded in the signature)")
    .option("--signature <file>", "where to write the signature (default: model.sig in the folder, or beside the file)")
    .option("--json", "print JSON")
    .option("--config <file>", "config file")
    .action(action(signCommand));
}

function readFile(path: string, flag: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw toEdgeError(error, `${flag}: cannot read ${path}`);
  }
}

async function signCommand(model: string, flags: SignFlags): Promise<void> {
  const config = commandConfig(flags);
  const keyPath = flags.key ?? config.trust.local_key;
  if (!keyPath) throw usageError("give the signing key with --key private.pem (or set trust.local_key)", "--key");
  if (flags.certChain && !flags.cert) throw usageError("--cert-chain needs --cert", "--cert-chain");
  const privateKey = parsePrivateKeyPem(readFile(keyPath, "--key"), keyPath);
  const certificate = flags.cert ? certificatesFromPem(readFile(flags.cert, "--cert"), flags.cert)[0] : undefined;
  const chain = flags.certChain ? certificatesFromPem(readFile(flags.certChain, "--cert-chain"), flags.certChain) : [];
  const root = resolve(model);
  const progress = process.stderr.isTTY && !flags.json;
  const signed = await signModel(root, {
    privateKey,
    ...(certificate ? { certificate, chain } : {}),
    ignorePaths: ignorePathsFromUser(root, flags.ignorePaths ?? []),
    ...(flags.signature ? { signaturePath: flags.signature } : {}),
    ...(progress ? { onFile: (name: string, bytes: number) => process.stderr.write(`hashed ${name} (${formatBytes(bytes)})\n`) } : {}),
  });
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({
        signature: signed.signaturePath,
        model_name: signed.modelName,
        root_digest: signed.rootDigest,
        method: certificate ? "certificate" : "key",
        signed_by: signed.signedBy,
        files: signed.resources,
        ignored: signed.ignorePaths,
      })}\n`,
    );
    return;
  }
  const by = certificate ? `certificate ${signed.signedBy}` : `key ${signed.signedBy}`;
  process.stdout.write(
    `wrote ${signed.signaturePath}\n  signed by    ${by}\n  files        ${signed.resources.length}, root sha256 ${signed.rootDigest}\n`,
  );
}
