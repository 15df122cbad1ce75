/**
 * One run of llama.cpp's trainer (`llama-finetune`, built by
 * `edgelm engine build --backend trainer`): full fine-tuning of an F32 model
 * on one text, in a child process, with its progress lines (loss and accuracy
 * of the training and validation parts, per epoch) turned into events.
 */
import { EdgeError } from "../errors.js";
import { runCommandOutput } from "./command-output.js";

export interface TrainerRunOptions {
  /** The llama-finetune binary. */
  binary: string;
  /** An all-F32 GGUF. */
  model: string;
  /** The training text, as a file. */
  textFile: string;
  /** Where the trained GGUF goes. */
  output: string;
  /** Tokens per training context (one context per batch). */
  contextSize: number;
  epochs: number;
  learningRate: number;
  /** Share (0–1, exclusive) of the contexts held out for validation. */
  validationSplit: number;
  optimizer: "adamw" | "sgd";
  threads: number;
  onProgress?: (event: TrainerProgress) => void;
  signal?: AbortSignal;
}

/** One progress line of the trainer. */
export interface TrainerProgress {
  /** 1-based. */
  epoch: number;
  phase: "train" | "val";
  /** Contexts done in this phase of the epoch, of `total`. */
  done: number;
  total: number;
  /** Mean cross-entropy so far in this phase, in nats per token. */
  loss: number;
  /** Share (0–1) of tokens whose most likely prediction was right. */
  accuracy: number;
}

export interface EpochResult {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  trainContexts: number;
  valLoss?: number;
  valAccuracy?: number;
  valContexts: number;
}

export interface TrainerRunResult {
  epochs: EpochResult[];
  seconds: number;
}

const PROGRESS = /^(train|val):\s*\[[^\]]*\]\s*data=(\d+)\/(\d+)\s+loss=([-+\d.eEnaif]+)±\S+\s+acc=([\d.]+)±\S+%/;

/** The command line of a trainer run (also what the benchmark runs directly). */
export function trainerArguments(options: Omit<TrainerRunOptions, "binary" | "onProgress" | "signal">): string[] {
  const n = String(options.contextSize);
  return [
    "--model", options.model,
    "--file", options.textFile,
    "--output", options.output,
    "--ctx-size", n,
    "--batch-size", n,
    "--ubatch-size", n,
    "--epochs", String(options.epochs),
    "--learning-rate", String(options.learningRate),
    "--val-split", String(options.validationSplit),
    "--optimizer", options.optimizer,
    "--threads", String(options.threads),
    "--n-gpu-layers", "0",
  ];
}

/** Parses one progress line (a `\r`-separated piece of the trainer's stderr); undefined for any other line. */
export function parseTrainerLine(line: string): Omit<TrainerProgress, "epoch"> | undefined {
  const m = PROGRESS.exec(line.trim());
  if (!m) return undefined;
  return { phase: m[1] as "train" | "val", done: Number(m[2]), total: Number(m[3]), loss: Number(m[4]), accuracy: Number((Number(m[5]) / 100).toFixed(4)) };
}

/**
 * Runs the trainer to the end. Errors: aborted (the signal; the child is
 * stopped), internal (it failed or crashed: its last lines are in the message),
 * invalid_request when it produced a loss that is not a number (diverged:
 * a lower learning rate is the fix).
 */
export async function runTrainer(options: TrainerRunOptions): Promise<TrainerRunResult> {
  const started = performance.now();
  const epochs: EpochResult[] = [];
  let epoch = 0;
  let phase: "train" | "val" | undefined;
  // Progress lines are parsed here; every other line is kept (the last 12) for an error message.
  const other: string[] = [];
  const onLine = (line: string): void => {
    const progress = parseTrainerLine(line);
    if (!progress) {
      other.push(line);
      if (other.length > 12) other.shift();
      return;
    }
    // An epoch starts when training follows validation, or (no validation part) when the count starts over.
    const previous = epochs[epochs.length - 1];
    if (progress.phase === "train" && (phase !== "train" || (previous !== undefined && progress.done < previous.trainContexts))) {
      epoch++;
      epochs.push({ epoch, trainLoss: Number.NaN, trainAccuracy: Number.NaN, trainContexts: 0, valContexts: 0 });
    }
    phase = progress.phase;
    const current = epochs[epochs.length - 1];
    if (!current) return;
    if (progress.phase === "train") {
      current.trainLoss = progress.loss;
      current.trainAccuracy = progress.accuracy;
      current.trainContexts = progress.done;
    } else {
      current.valLoss = progress.loss;
      current.valAccuracy = progress.accuracy;
      current.valContexts = progress.done;
    }
    options.onProgress?.({ ...progress, epoch });
  };
  let exit;
  try {
    exit = await runCommandOutput(options.binary, trainerArguments(options), { onLine, what: `the trainer ${options.binary}`, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    if (options.signal?.aborted) throw new EdgeError("aborted", "fine-tuning was cancelled");
    throw error;
  }
  const tail = other.slice(-8).join("\n");
  if (exit.code !== 0) {
    throw new EdgeError("internal", `the trainer failed (${exit.signal ?? `exit code ${exit.code}`}):\n${tail}`, exit.signal ? { details: { signal: exit.signal } } : {});
  }
  const diverged = epochs.find((e) => !Number.isFinite(e.trainLoss));
  if (diverged) throw new EdgeError("invalid_request", `training diverged in epoch ${diverged.epoch} (the loss is not a number); lower --learning-rate`, { param: "--learning-rate" });
  if (epochs.length !== options.epochs) throw new EdgeError("internal", `the trainer reported ${epochs.length} of ${options.epochs} epochs:\n${tail}`);
  return { epochs, seconds: (performance.now() - started) / 1000 };
}
