/** `edgelm rm <name...>`: remove models from the store (blobs no other model uses are deleted). */
import type { Command } from "commander";
import { ModelStore } from "../store/model-store.js";
import { removeUnusedAdapters } from "../store/unused-adapters.js";
import { action, commandConfig } from "./cli-kit.js";
import { formatBytes } from "./format.js";

interface RmFlags {
  json?: boolean;
  config?: string;
}

export function registerRm(program: Command): void {
  program
    .command("rm")
    .alias("remove")
    .description("remove models from the local store")
    .argument("<name...>", "model names, name[:tag] (tag latest when absent)")
    .option("--json", "print what was removed as JSON")
    .option("--config <file>", "config file")
    .action(action(rmCommand));
}

async function rmCommand(names: string[], flags: RmFlags): Promise<void> {
  const config = commandConfig(flags);
  const store = ModelStore.open(config);
  for (const name of names) store.require(name); // all or nothing: check every name first
  const removed = [];
  for (const name of names) {
    const { entry, freedBytes } = await store.remove(name);
    removed.push({ reference: entry.reference, freed_bytes: freedBytes });
    if (!flags.json) process.stdout.write(`removed ${entry.reference}${freedBytes > 0 ? ` (freed ${formatBytes(freedBytes)})` : " (its files are shared with other models)"}\n`);
    // A model created with Ollama's ADAPTER takes its adapter entries along, unless another model applies them too.
    for (const adapter of await removeUnusedAdapters(store, (entry.manifest.adapters ?? []).map((a) => a.name))) {
      removed.push({ reference: adapter.reference, freed_bytes: adapter.freedBytes });
      if (!flags.json) process.stdout.write(`removed ${adapter.reference}, an adapter only ${entry.reference} applied (freed ${formatBytes(adapter.freedBytes)})\n`);
    }
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(removed)}\n`);
}
