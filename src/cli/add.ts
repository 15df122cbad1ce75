/**
 * `edgelm add <file.gguf|model-folder> [--name name:tag]`: import a model into the store; a LoRA adapter file becomes
 * an adapter entry of its base (`--base`, else the stored model whose SHA-256 it records).
 */
import { statSync } from "node:fs";
import type { Command } from "commander";
import { storeAdapter } from "../adapt/store-adapter.js";
import { ggufRole } from "../store/model-folder.js";
import { ModelStore } from "../store/model-store.js";
import { describeSignature } from "../store/signature-status.js";
import { action, commandConfig, usageError } from "./cli-kit.js";
import { formatBytes } from "./format.js";
import { entryJson } from "./list.js";

interface AddFlags {
  name?: string;
  base?: string;
  signature?: string;
  force?: boolean;
  json?: boolean;
  config?: string;
}

export function registerAdd(program: Command): void {
  program
    .command("add")
    .description("import a GGUF file or a model folder (with its model.sig) into the local store")
    .argument("<path>", "a .gguf file, or a folder holding one model GGUF (and optionally model.sig, adapters, other files)")
    .option("--name <name[:tag]>", "store it under this name (default: the file or folder name, tag latest)")
    .option("--signature <model.sig>", "keep this OpenSSF Model Signing signature with a single-file model")
    .option("--base <name:tag>", "a LoRA adapter's base model in the store (default: the one whose SHA-256 the adapter records)")
    .option("-f, --force", "replace an entry of the same name that holds other files")
    .option("--json", "print the new entry as JSON")
    .option("--config <file>", "config file")
    .action(action(addCommand));
}

async function addCommand(path: string, flags: AddFlags): Promise<void> {
  const config = commandConfig(flags);
  if (isAdapterFile(path)) {
    if (flags.signature !== undefined) throw usageError("--signature is for models; an adapter is signed with trust.local_key when one is set", "--signature");
    const { entry, base, signed } = await storeAdapter(path, config, {
      ...(flags.name !== undefined ? { name: flags.name } : {}),
      ...(flags.base !== undefined ? { base: flags.base } : {}),
      ...(flags.force ? { force: true } : {}),
    });
    const signature = await describeSignature(entry, config);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ ...entryJson(entry, signature), signed_here: signed })}\n`);
      return;
    }
    process.stdout.write(`added ${entry.reference}: a LoRA adapter of ${base.reference} (${formatBytes(entry.size)}, sha256 ${entry.model.sha256.slice(0, 12)}…, ${signature.text})\n`);
    return;
  }
  if (flags.base !== undefined) throw usageError(`--base is for LoRA adapters, and ${path} is not one`, "--base");
  const store = ModelStore.open(config);
  const { entry, created } = await store.add(path, {
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    ...(flags.signature !== undefined ? { signature: flags.signature } : {}),
    ...(flags.force ? { force: true } : {}),
  });
  const signature = await describeSignature(entry, config);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ ...entryJson(entry, signature), created })}\n`);
    return;
  }
  const files = entry.files.length > 1 ? `, ${entry.files.length} files` : "";
  process.stdout.write(
    `${created ? "added" : "already in the store:"} ${entry.reference} (${formatBytes(entry.size)}${files}, ${entry.manifest.quantization ?? "?"}, sha256 ${entry.model.sha256.slice(0, 12)}…, ${signature.text})\n`,
  );
}

/** A single GGUF file that says it is an adapter (a folder, or anything unreadable, goes the model way and its errors). */
function isAdapterFile(path: string): boolean {
  try {
    return statSync(path).isFile() && ggufRole(path) === "adapter";
  } catch {
    return false;
  }
}
