/** `edgelm keygen`: make an ECDSA key pair for `edgelm sign` (PKCS#8 private PEM, SPKI public PEM). */
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
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
    .description("make an ECDSA key pair for signing models: private.pem (PKCS#8) and public.pem (SPKI)")
    .option("-o, --out <dir>", "folder to write the keys to (default: the current folder)")
    .option("--curve <curve>", "p256 | p384 | p521", "p256")
    .option("--force", "replace existing private.pem / public.pem")
    .option("--json", "print JSON")
    .action(action(keygenCommand));
}

async function keygenCommand(flags: KeygenFlags): Promise<void> {
  const curve = CURVES[flags.curve.toLowerCase()];
  if (!curve) throw usageError(`--curve must be p256, p384 or p521 (got "${flags.curve}")`, "--curve");
  const dir = resolve(flags.out ?? ".");
  mkdirSync(dir, { recursive: true });
  const privatePath = join(dir, "private.pem");
  const publicPath = join(dir, "public.pem");
  for (const path of [privatePath, publicPath]) {
    if (existsSync(path) && !flags.force) throw usageError(`${path} already exists; pass --force to replace it`, "--out");
  }
  const pair = generateEcKeyPair(curve);
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
