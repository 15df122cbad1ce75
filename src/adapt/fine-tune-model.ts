/**
 * `edgelm finetune`: full fine-tuning of a model on local text with llama.cpp's
 * training API (the trainer `engine build --backend trainer` makes), on this
 * device. Checked before any work: the trainer exists, the weights are
 * F32/F16/BF16, the text holds enough tokens for the training contexts, and
 * the estimated training memory fits what this machine has free. The result
 * is a new store entry — a version of its base (`fine_tuned_from`) recording
 * the training data's SHA-256, never the data — signed with trust.local_key
 * when one is set; or a plain file.
 */
import { copyFile, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { openResolvedModel } from "../engine/open-model.js";
import { llamaCppBundleCommit } from "../engine/llama-cpp-source.js";
import { findTrainer, type TrainerBuildRecord } from "../engine/trainer-build.js";
import { runTrainer, type TrainerProgress, type TrainerRunResult } from "../engine/trainer-run.js";
import { EdgeError, toEdgeError } from "../errors.js";
import { isAllF32, writeF32Copy } from "../gguf/f32-tensors.js";
import { readGguf } from "../gguf/gguf-reader.js";
import { summarizeGguf } from "../gguf/gguf-summary.js";
import { estimateTrainingMemory, type TrainingMemoryEstimate, type TrainingOptimizer } from "../gguf/training-memory-estimate.js";
import { readSystemMemory } from "../ops/system-memory.js";
import type { TrainingRecord } from "../store/manifest.js";
import { formatStoreName, looksLikeNameWithTag, parseStoreName } from "../store/model-ref.js";
import { ModelStore, type StoreEntry } from "../store/model-store.js";
import type { ResolvedModel } from "../store/resolved-model.js";
import { signWithLocalKey } from "../trust/sign-with-local-key.js";
import { sha256File } from "../trust/file-hash.js";
import { readTrainingText, type TrainingText } from "./training-text.js";

export interface FineTuneOptions {
  /** Passes over the text. Default 2. */
  epochs?: number;
  /** AdamW step size. Default 1e-4 (llama.cpp's trainer default is 1e-5, which barely moves a small model in 2 epochs). */
  learningRate?: number;
  /** Share of the training contexts held out for validation (0 ≤ v < 1). Default 0.1. */
  validationSplit?: number;
  /** Tokens per training context. Default: min(256, the model's training context). */
  contextSize?: number;
  optimizer?: TrainingOptimizer;
  /** Trainer threads. Default: every core. */
  threads?: number;
  /** Replace an existing output. Default false. */
  force?: boolean;
  /** What the memory check compares with. Default: this machine's available memory (or its cgroup's). */
  availableMemoryBytes?: number;
  onProgress?: (event: TrainerProgress) => void;
  /** A step beyond training (checking, tokenizing, storing). */
  onStatus?: (line: string) => void;
  signal?: AbortSignal;
}

export interface FineTuneResult {
  /** The store entry made (a name:tag output), else undefined. */
  entry?: StoreEntry;
  /** The file written (a path output), else undefined. */
  file?: string;
  signed: boolean;
  training: TrainingRecord;
  estimate: TrainingMemoryEstimate;
  run: TrainerRunResult;
  /** Tokens per context × training contexts × epochs: the tokens the optimizer learned from. */
  trainedTokens: number;
  /** trainedTokens over the trainer's wall time. */
  tokensPerSecond: number;
  /** The whole command's wall time, in seconds. */
  seconds: number;
}

/** Contexts of `contextSize` tokens llama.cpp's trainer cuts from `tokens` tokens (half-overlapping, as common_opt_dataset_init does). */
export function trainingContexts(tokens: number, contextSize: number): number {
  const stride = Math.floor(contextSize / 2);
  return tokens - contextSize - 1 < 0 ? 0 : Math.floor((tokens - contextSize - 1) / stride);
}

function checkOptions(options: FineTuneOptions): Required<Pick<FineTuneOptions, "epochs" | "learningRate" | "validationSplit" | "optimizer">> {
  const epochs = options.epochs ?? 2;
  const learningRate = options.learningRate ?? 1e-4;
  const validationSplit = options.validationSplit ?? 0.1;
  if (!Number.isInteger(epochs) || epochs < 1 || epochs > 1000) throw new EdgeError("usage", `--epochs must be an integer from 1 to 1000 (got ${epochs})`, { param: "--epochs" });
  if (!Number.isFinite(learningRate) || learningRate <= 0 || learningRate > 1) {
    throw new EdgeError("usage", `--learning-rate must be a number above 0 and at most 1 (got ${learningRate})`, { param: "--learning-rate" });
  }
  if (!Number.isFinite(validationSplit) || validationSplit < 0 || validationSplit >= 1) {
    throw new EdgeError("usage", `--validation-split must be at least 0 and below 1 (got ${validationSplit})`, { param: "--validation-split" });
  }
  return { epochs, learningRate, validationSplit, optimizer: options.optimizer ?? "adamw" };
}

/** engine.trainer (a binary; its commit is the bundled one's), else the trainer built here, else a clear error saying how to build it. */
export function requireTrainer(config: Config): { binary: string; commit: string } {
  if (config.engine.trainer !== undefined) {
    if (!existsSync(config.engine.trainer)) throw new EdgeError("file_not_found", `engine.trainer ${config.engine.trainer} does not exist`, { param: "engine.trainer" });
    return { binary: config.engine.trainer, commit: llamaCppBundleCommit() };
  }
  const trainer: TrainerBuildRecord | undefined = findTrainer(config.home);
  if (!trainer) {
    throw new EdgeError(
      "unsupported",
      "no trainer is built on this device: run `edgelm engine build --backend trainer` (it compiles llama.cpp's trainer from the bundled source, nothing is downloaded)",
    );
  }
  return trainer;
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1048576).toFixed(bytes < 10 * 1048576 ? 1 : 0)} MiB`;
}

/** One line naming every part of a training estimate. */
export function describeTrainingEstimate(e: TrainingMemoryEstimate): string {
  return `${formatMiB(e.totalBytes)} (weights ${formatMiB(e.weightsBytes)} + gradients ${formatMiB(e.gradientsBytes)} + ${e.optimizer} state ${formatMiB(e.optimizerStateBytes)} + activations ${formatMiB(e.activationsBytes)} at ${e.contextSize} tokens + trainer ${formatMiB(e.processBytes)})`;
}

/**
 * Fine-tunes `base` on the text at `textPath` (a file or a folder of text files) into `output`: `name:tag`
 * (a store entry; the base must be in the store) or a GGUF path.
 */
export async function fineTuneModel(base: ResolvedModel, textPath: string, output: string, config: Config, options: FineTuneOptions = {}): Promise<FineTuneResult> {
  const started = performance.now();
  const status = options.onStatus ?? ((): void => undefined);
  const { epochs, learningRate, validationSplit, optimizer } = checkOptions(options);
  const trainer = requireTrainer(config);
  const toStore = looksLikeNameWithTag(output);
  const store = ModelStore.open(config);
  if (toStore) {
    const name = formatStoreName(parseStoreName(output, "--out"));
    if (base.source !== "store") {
      throw new EdgeError("usage", `${base.name} is not in the store, so ${name} cannot be recorded as its version: add it first (edgelm add ${base.path} --name <name:tag>), or give a file path as --out`, {
        param: "--out",
      });
    }
    if (name === base.name) throw new EdgeError("usage", `${name} is the model being fine-tuned; give the new version its own tag`, { param: "--out" });
    if (store.get(name) && !options.force) throw new EdgeError("model_exists", `${name} is already in the store; choose another tag or pass --force to replace it`, { param: "--out" });
  } else if (!options.force && (await stat(output).then(() => true, () => false))) {
    throw new EdgeError("model_exists", `${output} exists; pass --force to overwrite it`, { param: "--out" });
  }
  const text: TrainingText = readTrainingText(textPath);
  const file = readGguf(base.path);
  const summary = summarizeGguf(file);
  const quantized = file.tensors.find((t) => !["F32", "F16", "BF16"].includes(t.type.name));
  if (quantized) {
    throw new EdgeError(
      "unsupported_model",
      `${base.name} holds ${quantized.type.name} weights (${quantized.name}); fine-tuning needs an F32, F16 or BF16 model — train the unquantized original, then quantize the result`,
    );
  }
  const trainContext = summary.contextLength ?? 512;
  const contextSize = options.contextSize ?? Math.min(256, trainContext);
  if (!Number.isInteger(contextSize) || contextSize < 8 || contextSize > trainContext) {
    throw new EdgeError("usage", `--context must be an integer from 8 to the model's training context (${trainContext}), got ${contextSize}`, { param: "--context" });
  }
  const estimate = estimateTrainingMemory(file, summary, contextSize, optimizer);
  const available = options.availableMemoryBytes ?? readSystemMemory().availableBytes;
  if (estimate.totalBytes > available) {
    throw new EdgeError(
      "insufficient_memory",
      `fine-tuning ${base.name} needs about ${describeTrainingEstimate(estimate)}, but this machine has ${formatMiB(available)} available; use a smaller --context, --optimizer sgd, or a smaller model`,
      { details: { estimate_bytes: estimate.totalBytes, available_bytes: available } },
    );
  }
  // The base is verified (hash, signature under the trust policy) and the text tokenized as the trainer will.
  status(`checking ${base.name} and tokenizing the text`);
  const engineConfig: Config = { ...config, engine: { ...config.engine, backend: "node-llama-cpp" } };
  // Threads given: tokenizing needs no thread measurement.
  const opened = await openResolvedModel(base, engineConfig, { parallel: 1, contextSize: Math.min(contextSize, 512), threads: { prompt: 1, decode: 1 } });
  let tokens: number;
  try {
    tokens = (await opened.model.tokenize(text.text, { addBos: true })).length;
  } finally {
    await opened.model.dispose();
  }
  const contexts = trainingContexts(tokens, contextSize);
  const trainPart = Math.floor(contexts * (1 - validationSplit));
  if (trainPart < 1 || (validationSplit > 0 && contexts - trainPart < 1)) {
    const needed = contextSize + 1 + Math.floor(contextSize / 2) * (validationSplit > 0 ? Math.max(2, Math.ceil(1 / validationSplit)) : 1);
    throw new EdgeError(
      "invalid_request",
      `the text is ${tokens} tokens; contexts of ${contextSize} tokens${validationSplit > 0 ? ` with a ${validationSplit} validation split` : ""} need at least ${needed}: give more text or a smaller --context`,
      { param: "--text" },
    );
  }
  await mkdir(store.paths.tmp, { recursive: true }).catch((error: unknown) => {
    throw toEdgeError(error, `cannot write into the store at ${store.paths.tmp}`);
  });
  const temps: string[] = [];
  const temp = (): string => {
    const path = store.tempPath();
    temps.push(path);
    return path;
  };
  try {
    let trainFrom = base.path;
    if (!isAllF32(file)) {
      status("writing an F32 copy to train");
      trainFrom = temp();
      await writeF32Copy(base.path, file, trainFrom);
    }
    const textFile = temp();
    await writeFile(textFile, text.text, { mode: 0o600 });
    const trained = temp();
    const run = await runTrainer({
      binary: trainer.binary,
      model: trainFrom,
      textFile,
      output: trained,
      contextSize,
      epochs,
      learningRate,
      validationSplit,
      optimizer,
      threads: options.threads ?? availableParallelism(),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    readGguf(trained); // the trainer wrote a complete, readable model
    const last = run.epochs[run.epochs.length - 1]!;
    const training: TrainingRecord = {
      data_sha256: text.sha256,
      data_bytes: text.bytes,
      data_files: text.files.length,
      tokens,
      base_sha256: base.files?.find((f) => f.role === "model")?.sha256 ?? base.expectedSha256 ?? (await sha256File(base.path)),
      epochs,
      learning_rate: learningRate,
      validation_split: validationSplit,
      context_size: contextSize,
      optimizer,
      train_loss: last.trainLoss,
      train_accuracy: last.trainAccuracy,
      val_loss: last.valLoss ?? null,
      val_accuracy: last.valAccuracy ?? null,
      seconds: Number(run.seconds.toFixed(3)),
      trainer: trainer.commit.slice(0, 12),
    };
    const trainedTokens = last.trainContexts * contextSize * epochs;
    const common = { training, estimate, run, trainedTokens, tokensPerSecond: trainedTokens / run.seconds };
    if (!toStore) {
      await mkdir(dirname(resolve(output)), { recursive: true });
      await rename(trained, output).catch(async () => {
        await copyFile(trained, output);
      });
      return { ...common, file: output, signed: false, seconds: (performance.now() - started) / 1000 };
    }
    status("storing the new version");
    const signaturePath = temp();
    const signature = (await signWithLocalKey(trained, config, signaturePath)) ? signaturePath : undefined;
    const name = parseStoreName(output, "--out");
    const entry = await store.addFineTuned(base.name, trained, {
      name: name.name,
      tag: name.tag,
      training,
      move: true,
      ...(signature ? { signature } : {}),
      ...(options.force ? { force: true } : {}),
    });
    return { ...common, entry, signed: signature !== undefined, seconds: (performance.now() - started) / 1000 };
  } finally {
    for (const path of temps) await rm(path, { force: true }).catch(() => {});
  }
}
