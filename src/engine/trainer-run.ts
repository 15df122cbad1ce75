/**
 * One run of llama.cpp's trainer (`llama-finetune`, built by
 * `edgelm engine build --backend trainer`): full fine-tuning of an F32 model
 * on one text, in a child process, with its progress lines (loss and accuracy
 * of the training and validation parts, per epoch) turned into events.
 */
import { spawn } from "node:child_process";
import { EdgeError } from "../errors.js";

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
export function runTrainer(options: TrainerRunOptions): Promise<TrainerRunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(options.binary, trainerArguments(options), { stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    const epochs: EpochResult[] = [];
    let epoch = 0;
    let phase: "train" | "val" | undefined;
    let partial = "";
    const onLine = (line: string): void => {
      if (!line.trim()) return;
      const progress = parseTrainerLine(line);
      if (!progress) {
        tail.push(line);
        if (tail.length > 12) tail.shift();
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
    const onData = (data: Buffer): void => {
      const pieces = (partial + data.toString("utf8")).split(/\r\n|\r|\n/);
      partial = pieces.pop() ?? "";
      for (const piece of pieces) onLine(piece);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const onAbort = (): void => {
      child.kill("SIGTERM");
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (error) => {
      options.signal?.removeEventListener("abort", onAbort);
      reject(new EdgeError("internal", `cannot run the trainer ${options.binary}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      options.signal?.removeEventListener("abort", onAbort);
      if (partial) onLine(partial);
      if (options.signal?.aborted) return reject(new EdgeError("aborted", "fine-tuning was cancelled"));
      if (code !== 0) {
        return reject(new EdgeError("internal", `the trainer failed (${signal ?? `exit code ${code}`}):\n${tail.slice(-8).join("\n")}`, signal ? { details: { signal } } : {}));
      }
      const diverged = epochs.find((e) => !Number.isFinite(e.trainLoss));
      if (diverged || epochs.length !== options.epochs) {
        return reject(
          diverged
            ? new EdgeError("invalid_request", `training diverged in epoch ${diverged.epoch} (the loss is not a number); lower --learning-rate`, { param: "--learning-rate" })
            : new EdgeError("internal", `the trainer reported ${epochs.length} of ${options.epochs} epochs:\n${tail.slice(-8).join("\n")}`),
        );
      }
      resolve({ epochs, seconds: (performance.now() - started) / 1000 });
    });
  });
}
