/**
 * `edgelm lora extract <base> <tuned> --rank r --out adapter.gguf` and
 * `edgelm lora merge <base> <adapter> --out model.gguf`: LoRA adapters in
 * llama.cpp's format, computed from a fine-tuned model's weight deltas by our
 * own truncated SVD (src/adapt/low-rank.ts), and applied back.
 */
import type { Command } from "commander";
import { extractLora, mergeLora } from "../adapt/lora-adapter.js";
import { mkdir, rm } from "node:fs/promises";
import { resolve as resolvePath } from "node:path";
import { storeAdapter } from "../adapt/store-adapter.js";
import { looksLikeNameWithTag } from "../store/model-ref.js";
import { ModelStore } from "../store/model-store.js";
import { resolveModel } from "../store/resolve-model.js";
import { action, commandConfig, integerFlag, numberFlag, usageError } from "./cli-kit.js";
import { formatBytes, printTable } from "./format.js";
import { ProgressBar } from "./progress-bar.js";

interface ExtractFlags {
  rank: number;
  out: string;
  force?: boolean;
  json?: boolean;
  config?: string;
}

interface MergeFlags {
  out: string;
  scale?: number;
  json?: boolean;
  config?: string;
}

export function registerLora(program: Command): void {
  const lora = program.command("lora").description("LoRA adapters: extract one from a fine-tuned model, merge one into its base");
  lora
    .command("extract")
    .description("write a rank-r LoRA adapter (llama.cpp's GGUF format) approximating <tuned> − <base>")
    .argument("<base>", "the base model (a path or a model reference)")
    .argument("<tuned>", "the fine-tuned model (same architecture and shapes)")
    .requiredOption("-r, --rank <r>", "rank of each weight delta's approximation (capped at the matrix's smaller side)", integerFlag("--rank", { min: 1, max: 65536 }))
    .requiredOption("-o, --out <file|name:tag>", "the adapter GGUF to write, or name:tag to store it as an adapter entry of <base> (a store model)")
    .option("-f, --force", "replace a store entry of the --out name that holds other files")
    .option("--json", "print a JSON summary")
    .option("--config <file>", "config file")
    .action(action(extractCommand));
  lora
    .command("merge")
    .description("write <base> with a LoRA adapter applied to its weights")
    .argument("<base>", "the base model the adapter was made for")
    .argument("<adapter>", "a LoRA adapter GGUF")
    .requiredOption("-o, --out <file>", "the merged model GGUF to write")
    .option("--scale <s>", "adapter scale (default 1)", numberFlag("--scale", { min: -100, max: 100 }))
    .option("--json", "print a JSON summary")
    .option("--config <file>", "config file")
    .action(action(mergeCommand));
}

async function extractCommand(baseRef: string, tunedRef: string, flags: ExtractFlags): Promise<void> {
  const config = commandConfig(flags);
  const base = await resolveModel(baseRef, config, { allowDownload: false });
  const tuned = await resolveModel(tunedRef, config, { allowDownload: false });
  const toStore = looksLikeNameWithTag(flags.out);
  if (toStore && base.source !== "store") {
    throw usageError(`${base.name} is not in the store, so ${flags.out} cannot be stored as its adapter: add it first (edgelm add ${base.path} --name <name:tag>), or give a file path as --out`, "--out");
  }
  const store = ModelStore.open(config);
  const output = toStore ? store.tempPath() : flags.out;
  const bar = new ProgressBar("extracting");
  let report;
  let stored;
  try {
    if (toStore) await mkdir(store.paths.tmp, { recursive: true });
    report = await extractLora(base.path, tuned.path, output, { rank: flags.rank, onProgress: (done, total, tensor) => bar.update(done, total, tensor) });
    if (toStore) {
      stored = await storeAdapter(output, config, {
        name: flags.out,
        base: base.name,
        move: true,
        source: { type: "extracted", from: tuned.source === "store" ? tuned.name : resolvePath(tuned.path), tool: `edgelm lora extract --rank ${flags.rank}` },
        ...(flags.force ? { force: true } : {}),
      });
    }
  } finally {
    bar.done();
    if (toStore) await rm(output, { force: true }).catch(() => {});
  }
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({
        base: base.name,
        tuned: tuned.name,
        output: stored ? stored.entry.reference : flags.out,
        ...(stored ? { signed: stored.signed } : {}),
        rank: report.rank,
        retained: report.retained,
        adapter_bytes: report.adapterBytes,
        base_sha256: report.baseSha256,
        seconds: Number(report.seconds.toFixed(3)),
        tensors: report.tensors.map((t) => ({ name: t.name, rows: t.rows, cols: t.cols, rank: t.rank, retained: t.retained, relative_delta: t.relativeDelta })),
        unchanged: report.unchanged,
        not_representable: report.notRepresentable.map((t) => ({ name: t.name, relative_delta: t.relativeDelta })),
      })}\n`,
    );
    return;
  }
  const out = process.stdout;
  const where = stored ? `added ${stored.entry.reference} to the store (an adapter of ${base.name}, ${stored.signed ? "signed with trust.local_key" : "unsigned: set trust.local_key to sign it"})` : `wrote ${flags.out}`;
  out.write(`${where}: a rank-${report.rank} LoRA adapter for ${base.name}, ${formatBytes(report.adapterBytes)}, ${(report.retained * 100).toFixed(2)}% of the delta's energy retained\n`);
  printTable(out, [
    ["tensor", "shape", "rank", "retained", "‖Δ‖/‖W‖"],
    ...report.tensors.map((t) => [t.name, `${t.rows}×${t.cols}`, String(t.rank), `${(t.retained * 100).toFixed(2)}%`, t.relativeDelta.toExponential(2)]),
  ]);
  if (report.notRepresentable.length > 0) {
    out.write(
      `not in the adapter (1-D tensors a LoRA adapter cannot carry): ${report.notRepresentable.map((t) => `${t.name} (‖Δ‖/‖W‖ ${t.relativeDelta.toExponential(1)})`).join(", ")}\n`,
    );
  }
}

async function mergeCommand(baseRef: string, adapter: string, flags: MergeFlags): Promise<void> {
  const config = commandConfig(flags);
  const base = await resolveModel(baseRef, config, { allowDownload: false });
  const result = await mergeLora(base.path, adapter, flags.out, flags.scale ?? 1);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ base: base.name, adapter, output: flags.out, scale: flags.scale ?? 1, merged_tensors: result.merged, bytes: result.bytes })}\n`);
    return;
  }
  process.stdout.write(`wrote ${flags.out}: ${base.name} with ${adapter} merged into ${result.merged} weights (${formatBytes(result.bytes)})\n`);
}
