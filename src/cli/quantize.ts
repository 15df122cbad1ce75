/**
 * `edgelm quantize <in> <out> --type <t>`: writes a quantized copy of a model
 * (streaming, on worker threads), with llama.cpp's rules for which tensors get
 * which type. An output written `name:tag` goes into the store as a variant of
 * the (store) input.
 */
import type { Command } from "commander";
import { ggmlTypeByName } from "../gguf/ggml-types.js";
import { quantizeModel, defaultWorkerCount, type QuantizeReport } from "../gguf/quant/quantize-model.js";
import { outputTensorType, QUANT_TARGETS, quantTarget } from "../gguf/quant/tensor-type-plan.js";
import { logger } from "../log.js";
import { looksLikeNameWithTag, parseStoreName } from "../store/model-ref.js";
import { quantizeVariant, type QuantizedVariant } from "../store/quantize-variant.js";
import { resolveModel } from "../store/resolve-model.js";
import { action, commandConfig, integerFlag } from "./cli-kit.js";
import { formatBytes, printTable } from "./format.js";
import { ProgressBar } from "./progress-bar.js";

interface QuantizeFlags {
  type: string;
  outputType?: string;
  workers?: number;
  force?: boolean;
  json?: boolean;
  config?: string;
}

export function registerQuantize(program: Command): void {
  program
    .command("quantize")
    .description("write a quantized copy of a model (llama.cpp's block formats and tensor rules, bit-exact)")
    .argument("<input>", "the model to quantize (a path or a model reference), with F32, F16 or BF16 weights")
    .argument("<output>", "the GGUF file to write, or name:tag to add it to the store as a variant of the input")
    .requiredOption("-t, --type <type>", `target: ${Object.keys(QUANT_TARGETS).join(", ")} (q4_k is llama.cpp's Q4_K_M mix)`)
    .option("--output-type <type>", "type of the output matrix (default: Q6_K for 4- and 5-bit targets, else the target)")
    .option("--workers <n>", `worker threads (default: ${defaultWorkerCount()} here; 0 = none)`, integerFlag("--workers", { min: 0, max: 64 }))
    .option("--force", "with a name:tag output, replace an existing store entry of that name")
    .option("--json", "print a JSON summary")
    .option("--config <file>", "config file")
    .action(action(quantizeCommand));
}

async function quantizeCommand(input: string, output: string, flags: QuantizeFlags): Promise<void> {
  const config = commandConfig(flags);
  const target = quantTarget(flags.type);
  const outputType = flags.outputType !== undefined ? outputTensorType(flags.outputType) : undefined;
  const resolved = await resolveModel(input, config, { allowDownload: false });
  const bar = new ProgressBar(`quantizing to ${target.label}`);
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once("SIGINT", onSigint);
  let report: QuantizeReport;
  let variant: QuantizedVariant | undefined;
  const options = {
    target,
    ...(outputType ? { outputType } : {}),
    ...(flags.workers !== undefined ? { workers: flags.workers } : {}),
    signal: controller.signal,
    onProgress: (done: number, total: number, tensor: string) => bar.update(done, total, tensor),
    onWarning: (message: string) => {
      bar.done();
      logger.warn(message);
    },
  };
  try {
    if (looksLikeNameWithTag(output)) {
      variant = await quantizeVariant(resolved, parseStoreName(output, "output"), config, { ...options, ...(flags.force ? { force: true } : {}) });
      report = variant.report;
    } else {
      report = await quantizeModel(resolved.path, output, options);
    }
  } finally {
    bar.done();
    process.off("SIGINT", onSigint);
  }
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({
        input: report.input,
        output: variant ? variant.entry.reference : report.output,
        type: report.type,
        file_type: report.fileType,
        input_bytes: report.inputBytes,
        output_bytes: report.outputBytes,
        seconds: Number(report.seconds.toFixed(3)),
        workers: report.workers,
        tensor_types: report.tensorTypes,
        fallbacks: report.fallbacks.map((f) => ({ tensor: f.tensor, row_length: f.rowLength, wanted: f.wanted, used: f.used })),
        requantized: report.requantized,
        warnings: report.warnings,
        ...(variant ? { store: { reference: variant.entry.reference, variant_of: variant.entry.manifest.variant_of, signed: variant.signed, sha256: variant.entry.model.sha256 } } : {}),
      })}\n`,
    );
    return;
  }
  const out = process.stdout;
  if (variant) {
    const signed = variant.signed ? "signed with trust.local_key" : "unsigned (set trust.local_key to sign variants)";
    out.write(`added ${variant.entry.reference} (${report.type}) to the store, a variant of ${variant.entry.manifest.variant_of}, ${signed}\n`);
  } else {
    out.write(`wrote ${report.output} (${report.type})\n`);
  }
  const rows = [
    ["size", `${formatBytes(report.inputBytes)} → ${formatBytes(report.outputBytes)} (${((100 * report.outputBytes) / report.inputBytes).toFixed(0)}%)`],
    ["tensors", Object.entries(report.tensorTypes).map(([t, n]) => `${t} ×${n}`).join(", ")],
  ];
  if (report.fallbacks.length > 0) {
    const kinds = new Map<string, string[]>();
    for (const f of report.fallbacks) {
      const key = `rows of ${f.rowLength} do not divide into ${f.wanted} blocks of ${ggmlTypeByName(f.wanted)?.blockSize} → ${f.used}`;
      kinds.set(key, [...(kinds.get(key) ?? []), f.tensor]);
    }
    for (const [kind, names] of kinds) {
      rows.push(["fallback", `${names.length} tensor${names.length > 1 ? "s" : ""}: ${kind} (${names.slice(0, 2).join(", ")}${names.length > 2 ? ", …" : ""})`]);
    }
  }
  rows.push(["time", `${report.seconds.toFixed(1)} s, ${report.workers} worker${report.workers === 1 ? "" : "s"}`]);
  printTable(out, rows);
}
