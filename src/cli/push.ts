/**
 * `edgelm push <name> oci://host/repo:tag`: publish a store entry to an OCI
 * registry (ModelPack by default, `--format docker`), its model.sig as a referrer.
 */
import type { Command } from "commander";
import { OCI_PUSH_FORMATS, parseOciReference, pushOci, type OciPushFormat } from "../store/oci/oci-source.js";
import { action, commandConfig, usageError } from "./cli-kit.js";
import { terminalProgress } from "./progress-bar.js";
import { formatBytes } from "./format.js";

interface PushFlags {
  format?: string;
  mountFrom?: string[];
  release?: string;
  json?: boolean;
  config?: string;
}

export function registerPush(program: Command): void {
  program
    .command("push")
    .description("publish a model from the store to an OCI registry (oci://host[:port]/repo:tag)")
    .argument("<name>", "model in the store, name[:tag]")
    .argument("<ref>", "where to push: oci://host[:port]/repo:tag")
    .option("--format <format>", `artifact format: ${OCI_PUSH_FORMATS.join(" | ")} (default modelpack)`)
    .option("--mount-from <repos...>", "repositories of the same registry to mount existing blobs from")
    .option("--release <name>", "the release this is (e.g. 1.4.2), written as org.opencontainers.image.version; gateways following the tag report it")
    .option("--json", "print a JSON summary (and no progress bar)")
    .option("--config <file>", "config file")
    .action(action(pushCommand));
}

async function pushCommand(name: string, text: string, flags: PushFlags): Promise<void> {
  const config = commandConfig(flags);
  const format = flags.format ?? "modelpack";
  if (!(OCI_PUSH_FORMATS as readonly string[]).includes(format)) {
    throw usageError(`--format must be one of ${OCI_PUSH_FORMATS.join(", ")}, not "${format}"`, "--format");
  }
  const progress = terminalProgress({ quiet: flags.json === true });
  const result = await pushOci(name, parseOciReference(text), config, {
    format: format as OciPushFormat,
    ...(flags.mountFrom ? { mountFrom: flags.mountFrom } : {}),
    ...(flags.release !== undefined ? { version: releaseName(flags.release) } : {}),
    ...(progress ? { progress } : {}),
  });
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({ model: name, reference: result.reference, digest: result.digest, format: result.format, bytes_uploaded: result.bytesUploaded, blobs: result.blobs, signature: result.signature ?? null })}\n`,
    );
    return;
  }
  const { uploaded, exists, mounted } = result.blobs;
  process.stdout.write(
    `pushed ${name} to ${result.reference} (${result.format}; ${uploaded} blob(s) uploaded, ${formatBytes(result.bytesUploaded)}; ${exists} already there; ${mounted} mounted${result.signature ? "; model.sig attached" : ""})\n`,
  );
}

/** A release name: 1–128 printable characters without spaces (it becomes a label in metrics and store listings). */
function releaseName(text: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/.test(text)) {
    throw usageError(`--release must be 1-128 of letters, digits, ".", "_", "+" and "-", starting with a letter or digit, not "${text}"`, "--release");
  }
  return text;
}
