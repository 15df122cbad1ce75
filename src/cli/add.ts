/** `edgelm add <file.gguf|model-folder> [--name name:tag]`: import a model into the store. */
import type { Command } from "commander";
import { ModelStore } from "../store/model-store.js";
import { describeSignature } from "../store/signature-status.js";
import { action, commandConfig } from "./cli-kit.js";
import { formatBytes } from "./format.js";
import { entryJson } from "./list.js";

interface AddFlags {
  name?: string;
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
    .option("-f, --force", "replace an entry of the same name that holds other files")
    .option("--json", "print the new entry as JSON")
    .option("--config <file>", "config file")
    .action(action(addCommand));
}

async function addCommand(path: string, flags: AddFlags): Promise<void> {
  const config = commandConfig(flags);
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
