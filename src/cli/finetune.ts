/**
 * `edgelm finetune <model> --text <file|dir> --out <name:tag|file>`: full
 * fine-tuning on this device (src/adapt/fine-tune-model.ts), with a progress
 * line per epoch and phase (loss, accuracy) on a terminal and `--json` when piped.
 */
import { InvalidArgumentError, type Command } from "commander";
import { fineTuneModel, describeTrainingEstimate } from "../adapt/fine-tune-model.js";
import type { TrainerProgress } from "../engine/trainer-run.js";
import { resolveModel } from "../store/resolve-model.js";
import { action, commandConfig, integerFlag, numberFlag } from "./cli-kit.js";
import { formatBytes, printTable } from "./format.js";

interface FineTuneFlags {
  text: string;
  out: string;
  epochs?: number;
  learningRate?: number;
  validationSplit?: number;
  context?: number;
  optimizer?: "adamw" | "sgd";
  threads?: number;
  force?: boolean;
  json?: boolean;
  config?: string;
}

function optimizerName(raw: string): "adamw" | "sgd" {
  if (raw === "adamw" || raw === "sgd") return raw;
  throw new InvalidArgumentError(`--optimizer must be adamw or sgd (got "${raw}")`);
}

export function registerFineTune(program: Command): void {
  program
    .command("finetune")
    .description("fine-tune a model (F32/F16) on local text, on this device; the result is a new version of it in the store")
    .argument("<model>", "the model to train: a store name (to record the result as its version) or a path")
    .requiredOption("--text <path>", "the training text: a file, or a folder of .txt/.md files")
    .requiredOption("--out <name:tag|file>", "name:tag to add the result to the store (a version of <model>), or a GGUF path")
    .option("--epochs <n>", "passes over the text (default 2)", integerFlag("--epochs", { min: 1, max: 1000 }))
    .option("--learning-rate <lr>", "AdamW/SGD step size (default 1e-4)", numberFlag("--learning-rate", { min: Number.MIN_VALUE, max: 1 }))
    .option("--validation-split <share>", "share of the text held out to validate each epoch (default 0.1)", numberFlag("--validation-split", { min: 0, max: 0.9 }))
    .option("--context <tokens>", "tokens per training context (default: min(256, the model's training context))", integerFlag("--context", { min: 8 }))
    .option("--optimizer <name>", "adamw (default) or sgd (no optimizer state: less memory)", optimizerName)
    .option("--threads <n>", "trainer threads (default: every core)", integerFlag("--threads", { min: 1, max: 1024 }))
    .option("--force", "replace an existing output")
    .option("--json", "print a JSON summary")
    .option("--config <file>", "config file")
    .action(action(fineTuneCommand));
}

async function fineTuneCommand(modelRef: string, flags: FineTuneFlags): Promise<void> {
  const config = commandConfig(flags);
  const resolved = await resolveModel(modelRef, config, { allowDownload: false });
  const tty = process.stderr.isTTY === true && !flags.json;
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once("SIGINT", onSigint);
  let drawn = false;
  const clear = (): void => {
    if (drawn) process.stderr.write("\r\x1b[K");
    drawn = false;
  };
  const epochs = flags.epochs ?? 2;
  const draw = (p: TrainerProgress): void => {
    if (!tty) return;
    const width = 20;
    const filled = p.total > 0 ? Math.round((p.done / p.total) * width) : width;
    const line = `epoch ${p.epoch}/${epochs} ${p.phase === "train" ? "train" : "val  "} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${p.done}/${p.total}  loss ${p.loss.toFixed(4)}  accuracy ${(p.accuracy * 100).toFixed(1)}%`;
    process.stderr.write(`\r${line.slice(0, (process.stderr.columns ?? 100) - 1)}\x1b[K`);
    drawn = true;
    // Keep each epoch's final figures on screen.
    if (p.done === p.total && p.phase === "val") {
      process.stderr.write("\n");
      drawn = false;
    }
  };
  let result;
  try {
    result = await fineTuneModel(resolved, flags.text, flags.out, config, {
      ...(flags.epochs !== undefined ? { epochs: flags.epochs } : {}),
      ...(flags.learningRate !== undefined ? { learningRate: flags.learningRate } : {}),
      ...(flags.validationSplit !== undefined ? { validationSplit: flags.validationSplit } : {}),
      ...(flags.context !== undefined ? { contextSize: flags.context } : {}),
      ...(flags.optimizer ? { optimizer: flags.optimizer } : {}),
      ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
      ...(flags.force ? { force: true } : {}),
      onProgress: draw,
      onStatus: (line) => {
        if (!tty) return;
        clear();
        process.stderr.write(`${line}…\n`);
      },
      signal: controller.signal,
    });
  } finally {
    clear();
    process.off("SIGINT", onSigint);
  }
  const t = result.training;
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({
        model: resolved.name,
        output: result.entry ? result.entry.reference : result.file,
        store: result.entry ? { reference: result.entry.reference, fine_tuned_from: result.entry.manifest.fine_tuned_from, signed: result.signed, sha256: result.entry.model.sha256 } : null,
        training: t,
        epochs: result.run.epochs.map((e) => ({
          epoch: e.epoch,
          train_loss: e.trainLoss,
          train_accuracy: e.trainAccuracy,
          train_contexts: e.trainContexts,
          val_loss: e.valLoss ?? null,
          val_accuracy: e.valAccuracy ?? null,
          val_contexts: e.valContexts,
        })),
        memory_estimate: {
          total_bytes: result.estimate.totalBytes,
          weights_bytes: result.estimate.weightsBytes,
          gradients_bytes: result.estimate.gradientsBytes,
          optimizer_state_bytes: result.estimate.optimizerStateBytes,
          activations_bytes: result.estimate.activationsBytes,
          process_bytes: result.estimate.processBytes,
        },
        trained_tokens: result.trainedTokens,
        tokens_per_second: Number(result.tokensPerSecond.toFixed(1)),
        trainer_seconds: Number(result.run.seconds.toFixed(3)),
        seconds: Number(result.seconds.toFixed(3)),
      })}\n`,
    );
    return;
  }
  const out = process.stdout;
  if (result.entry) {
    const signed = result.signed ? "signed with trust.local_key" : "unsigned (set trust.local_key to sign it)";
    out.write(`added ${result.entry.reference} to the store, fine-tuned from ${resolved.name}, ${signed}\n`);
  } else {
    out.write(`wrote ${result.file}\n`);
  }
  const last = result.run.epochs[result.run.epochs.length - 1]!;
  printTable(out, [
    ["text", `${formatBytes(t.data_bytes)} in ${t.data_files} file${t.data_files === 1 ? "" : "s"}, ${t.tokens} tokens, sha256 ${t.data_sha256.slice(0, 16)}…`],
    ["training", `${t.epochs} epoch${t.epochs === 1 ? "" : "s"}, contexts of ${t.context_size} tokens, ${t.optimizer} lr ${t.learning_rate}, validation ${t.validation_split}`],
    ["loss", result.run.epochs.map((e) => `${e.trainLoss.toFixed(4)}${e.valLoss !== undefined ? ` (val ${e.valLoss.toFixed(4)})` : ""}`).join(" → ")],
    ["accuracy", `${(last.trainAccuracy * 100).toFixed(1)}%${last.valAccuracy !== undefined ? ` (val ${(last.valAccuracy * 100).toFixed(1)}%)` : ""}`],
    ["memory", `estimated ${describeTrainingEstimate(result.estimate)}`],
    ["speed", `${result.tokensPerSecond.toFixed(0)} tokens/s trained (${result.trainedTokens} tokens in ${result.run.seconds.toFixed(1)} s; ${result.seconds.toFixed(1)} s in all)`],
  ]);
}
