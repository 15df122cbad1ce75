/**
 * `edgelm pull <ref>`: download a catalog model or an hf: file into the store
 * (once; resumable; checked against the hub's SHA-256). `--list` shows the catalog.
 */
import type { Command } from "commander";
import type { Config } from "../config/schema.js";
import { catalogAliasesOf, CATALOG } from "../store/catalog.js";
import { canonicalHfRef } from "../store/hf-download.js";
import { parseStoreName } from "../store/model-ref.js";
import { ModelStore } from "../store/model-store.js";
import { catalogHfRef, type PullOptions } from "../store/pull.js";
import { pullModel } from "../store/resolve-model.js";
import { describeSignature } from "../store/signature-status.js";
import { terminalProgress } from "./progress-bar.js";
import { action, commandConfig, usageError } from "./cli-kit.js";
import { formatBytes, printTable } from "./format.js";
import { entryJson } from "./list.js";

interface PullFlags {
  list?: boolean;
  name?: string;
  json?: boolean;
  config?: string;
}

export function registerPull(program: Command): void {
  program
    .command("pull")
    .description("download a model into the local store: a catalog name (smollm2:360m) or hf:owner/repo/file.gguf[@revision]")
    .argument("[ref]", "catalog name or hf: reference")
    .option("--list", "show the built-in catalog with download sizes")
    .option("--name <name[:tag]>", "store it under this name (default: the catalog name, or owner/repo:file for hf:)")
    .option("--json", "print JSON (and no progress bar)")
    .option("--config <file>", "config file")
    .action(action(pullCommand));
}

async function pullCommand(text: string | undefined, flags: PullFlags): Promise<void> {
  const config = commandConfig(flags);
  if (flags.list) {
    printCatalog(config, flags.json === true);
    return;
  }
  if (text === undefined) throw usageError("name a model to pull (see `edgelm pull --list`), or pass --list", "ref");
  const progress = terminalProgress({ quiet: flags.json === true });
  const options: PullOptions = {
    ...(progress ? { progress } : {}),
    ...(flags.name !== undefined ? { name: parseStoreName(flags.name) } : {}),
  };
  const result = await pullModel(text, config, options);
  const signature = await describeSignature(result.entry, config);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ ...entryJson(result.entry, signature), downloaded: result.downloaded, path: result.entry.model.path })}\n`);
    return;
  }
  const { entry } = result;
  process.stdout.write(
    result.downloaded
      ? `pulled ${entry.reference} (${formatBytes(entry.size)}, ${entry.manifest.quantization ?? "?"}, sha256 ${entry.model.sha256.slice(0, 12)}… verified)\n`
      : `${entry.reference} is already in the store\n`,
  );
}

function printCatalog(config: Config, json: boolean): void {
  const store = ModelStore.open(config);
  const rows = CATALOG.map((entry) => {
    const [name, tag] = entry.name.split(":") as [string, string];
    return { entry, aliases: catalogAliasesOf(entry), pulled: store.get({ name, tag }) !== undefined };
  });
  if (json) {
    const out = rows.map(({ entry, aliases, pulled }) => ({
      name: entry.name,
      aliases,
      parameters: entry.parameters,
      quantization: entry.quantization,
      size_bytes: entry.sizeBytes,
      size_approximate: entry.sizeApproximate === true,
      gated: entry.gated === true,
      ref: canonicalHfRef(catalogHfRef(entry)),
      pulled,
    }));
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  printTable(
    process.stdout,
    [
      ["NAME", "PARAMS", "QUANT", "DOWNLOAD", "ALSO", "PULLED", "FROM"],
      ...rows.map(({ entry, aliases, pulled }) => [
        entry.name,
        entry.parameters,
        entry.quantization,
        `${entry.sizeApproximate ? "≈" : ""}${formatBytes(entry.sizeBytes)}`,
        aliases.join(", ") || "-",
        pulled ? "yes" : "-",
        `hf:${entry.owner}/${entry.repo}/${entry.file}${entry.gated ? " (gated: needs EDGELM_HF_TOKEN)" : ""}`,
      ]),
    ],
    "",
  );
  process.stdout.write(`\nfiles come from ${config.hf_endpoint} (EDGELM_HF_ENDPOINT); ≈ = publisher's rounded size\n`);
}
