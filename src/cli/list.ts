/** `edgelm list`: the models in the local store, each followed by its LoRA adapters. */
import type { Command } from "commander";
import type { StoreEntry } from "../store/model-store.js";
import { ModelStore } from "../store/model-store.js";
import { describeSignature, type SignatureStatus } from "../store/signature-status.js";
import { action, commandConfig } from "./cli-kit.js";
import { formatBytes, printTable } from "./format.js";

interface ListFlags {
  json?: boolean;
  config?: string;
}

export function registerList(program: Command): void {
  program
    .command("list")
    .alias("ls")
    .description("list the models in the local store: name, tag, size, quantization, signature (the full reason: --json or `edgelm verify <name>`)")
    .option("--json", "print a JSON array")
    .option("--config <file>", "config file")
    .action(action(listCommand));
}

/** An entry as the JSON that list/add/pull print. */
export function entryJson(entry: StoreEntry, signature: SignatureStatus) {
  return {
    name: entry.name,
    tag: entry.tag,
    reference: entry.reference,
    size: entry.size,
    quantization: entry.manifest.quantization,
    signature: signature.text,
    signature_status: signature.status,
    ...(signature.error ? { signature_error: signature.error } : {}),
    signed: signature.present,
    kind: entry.manifest.adapter_of ? "adapter" : "model",
    variant_of: entry.manifest.variant_of,
    ...(entry.manifest.adapter_of ? { adapter_of: entry.manifest.adapter_of } : {}),
    source: entry.manifest.source,
    created: entry.manifest.created,
    sha256: entry.model.sha256,
    files: entry.files.map((f) => ({ name: f.name, role: f.role, sha256: f.sha256, size: f.size })),
  };
}

async function listCommand(flags: ListFlags): Promise<void> {
  const config = commandConfig(flags);
  const entries = ModelStore.open(config).list();
  const rows = await Promise.all(entries.map(async (entry) => ({ entry, signature: await describeSignature(entry, config) })));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows.map((r) => entryJson(r.entry, r.signature)), null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write(`no models in the store (${config.home}); add one with \`edgelm add <file.gguf>\` or \`edgelm pull <name>\`\n`);
    return;
  }
  printTable(
    process.stdout,
    [
      ["NAME", "TAG", "SIZE", "QUANTIZATION", "SIGNATURE", "VARIANT OF"],
      ...underTheirBases(rows).map(({ row: { entry, signature }, adapter }) => [
        adapter ? `  └ ${entry.name}` : entry.name,
        entry.tag,
        formatBytes(entry.size),
        adapter ? `adapter${adapter === "orphan" ? ` of ${entry.manifest.adapter_of!.name} (not in the store)` : ""}` : (entry.manifest.quantization ?? "?"),
        signature.column,
        entry.manifest.variant_of ?? "-",
      ]),
    ],
    "",
  );
}

/** Models in store order, each followed by its adapters; adapters whose base is gone come last, marked "orphan". */
function underTheirBases<T extends { entry: StoreEntry }>(rows: T[]): Array<{ row: T; adapter: false | "of-base" | "orphan" }> {
  const models = rows.filter((r) => !r.entry.manifest.adapter_of);
  const adapters = rows.filter((r) => r.entry.manifest.adapter_of);
  const placed = new Set<T>();
  const out: Array<{ row: T; adapter: false | "of-base" | "orphan" }> = [];
  for (const model of models) {
    out.push({ row: model, adapter: false });
    for (const a of adapters) {
      if (a.entry.manifest.adapter_of!.name === model.entry.reference && a.entry.manifest.adapter_of!.sha256 === model.entry.model.sha256) {
        out.push({ row: a, adapter: "of-base" });
        placed.add(a);
      }
    }
  }
  for (const a of adapters) if (!placed.has(a)) out.push({ row: a, adapter: "orphan" });
  return out;
}
