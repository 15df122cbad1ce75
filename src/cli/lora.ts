/**
 * `edgelm lora extract <base> <tuned> --rank r --out adapter.gguf` and
 * `edgelm lora merge <base> <adapter> --out model.gguf`: LoRA adapters in
 * llama.cpp's format, computed from a fine-tuned model's weight deltas by our
 * own truncated SVD (src/adapt/low-rank.ts), and applied back.
 */
import type { Command } from "commander";
import { extractLora, mergeLora } from "../adapt/lora-adapter.js";
import { resolveModel } from "../store/resolve-model.js";
import { action, commandConfig, integerFlag, numberFlag } from "./cli-kit.js";
import { formatBytes, printTable } from "./format.js";
import { ProgressBar } from "./progress-bar.js";

interface ExtractFlags {
  rank: number;
  out: string;
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
    .requiredOption("-o, --out <file>", "the adapter GGUF to write")
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
  const bar = new ProgressBar("extracting");
  let report;
  try {
    report = await extractLora(base.path, tuned.path, flags.out, { rank: flags.rank, onProgress: (done, total, tensor) => bar.update(done, total, tensor) });
  } finally {
    bar.done();
  }
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({
        base: base.name,
        tuned: tuned.name,
        output: flags.out,
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
  out.write(`wrote ${flags.out}: a rank-${report.rank} LoRA adapter for ${base.name}, ${formatBytes(report.adapterBytes)}, ${(report.retained * 100).toFixed(2)}% of the delta's energy retained\n`);
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
