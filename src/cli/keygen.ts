/**
 * `edgelm keygen`: make an ECDSA key pair for `edgelm sign` (PKCS#8 private PEM, SPKI public PEM), or with
 * `--curve ed25519` an Ed25519 pair for signing federated updates and admin commands.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { generateKeyPairSync } from "node:crypto";
import { ed25519PublicBase64 } from "../trust/ed25519-key.js";
import { generateEcKeyPair, type EcCurve } from "../trust/model-signing/ec-keys.js";
import { writeFileAtomic } from "../atomic-write.js";
import { action, usageError } from "./cli-kit.js";

interface KeygenFlags {
  out?: string;
  curve: string;
  force?: boolean;
  json?: boolean;
}

const CURVES: Record<string, EcCurve> = { p256: "P-256", p384: "P-384", p521: "P-521" };

export function registerKeygen(program: Command): void {
  program
    .command("keygen")
    .description("make a key pair: ECDSA for signing models, or Ed25519 (--curve ed25519) for federated updates and commands; private.pem (PKCS#8) and public.pem (SPKI)")
    .option("-o, --out <dir>", "folder to write the keys to (default: the current folder)")
    .option("--curve <curve>", "p256 | p384 | p521 | ed25519", "p256")
    .option("--force", "replace existing private.pem / public.pem")
    .option("--json", "print JSON")
    .action(action(keygenCommand));
}

async function keygenCommand(flags: KeygenFlags): Promise<void> {
  const ed25519 = flags.curve.toLowerCase() === "ed25519";
  const curve = CURVES[flags.curve.toLowerCase()];
  if (!curve && !ed25519) throw usageError(`--curve must be p256, p384, p521 or ed25519 (got "${flags.curve}")`, "--curve");
  const dir = resolve(flags.out ?? ".");
  mkdirSync(dir, { recursive: true });
  const privatePath = join(dir, "private.pem");
  const publicPath = join(dir, "public.pem");
  for (const path of [privatePath, publicPath]) {
    if (existsSync(path) && !flags.force) throw usageError(`${path} already exists; pass --force to replace it`, "--out");
  }
  if (ed25519) {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    await writeFileAtomic(privatePath, privateKey.export({ type: "pkcs8", format: "pem" }) as string, 0o600);
    await writeFileAtomic(publicPath, publicKey.export({ type: "spki", format: "pem" }) as string);
    const raw = ed25519PublicBase64(publicKey);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ private_key: privatePath, public_key: publicPath, curve: "Ed25519", public_key_base64: raw })}\n`);
      return;
    }
    process.stdout.write(`wrote ${privatePath} (keep it secret) and ${publicPath}\nEd25519 public key (base64, for a coordinator's participants list): ${raw}\n`);
    return;
  }
  const pair = generateEcKeyPair(curve!);
  await writeFileAtomic(privatePath, pair.privatePem, 0o600);
  await writeFileAtomic(publicPath, pair.publicPem);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ private_key: privatePath, public_key: publicPath, curve, hint: pair.hint })}\n`);
    return;
  }
  process.stdout.write(
    `wrote ${privatePath} (keep it secret) and ${publicPath}\n` +
      `key hint ${pair.hint} (ECDSA ${curve})\n` +
      `sign with: edgelm sign <model> --key ${privatePath}\nverify with: edgelm verify <model> --key ${publicPath}\n`,
  );
}
