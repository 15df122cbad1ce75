/** `edgelm export <name> <folder>`: write a model's files and model.sig to a folder, ready to copy to another device. */
import type { Command } from "commander";
import { ModelStore } from "../store/model-store.js";
import { action, commandConfig } from "./cli-kit.js";

interface ExportFlags {
  force?: boolean;
  json?: boolean;
  config?: string;
}

export function registerExport(program: Command): void {
  program
    .command("export")
    .description("write a model's files (under their manifest names) and its model.sig into a folder")
    .argument("<name>", "model in the store, name[:tag]")
    .argument("<folder>", "destination folder (created if missing)")
    .option("-f, --force", "overwrite files that already exist in the folder")
    .option("--json", "print the written paths as JSON")
    .option("--config <file>", "config file")
    .action(action(exportCommand));
}

async function exportCommand(name: string, folder: string, flags: ExportFlags): Promise<void> {
  const config = commandConfig(flags);
  const written = await ModelStore.open(config).export(name, folder, flags.force ? { force: true } : {});
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ model: name, files: written })}\n`);
    return;
  }
  for (const path of written) process.stdout.write(`${path}\n`);
}
