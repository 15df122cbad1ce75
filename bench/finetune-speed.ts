/**
 * Fine-tuning speed: `edgelm finetune` (the library call, to a file) against llama.cpp's trainer run directly with
 * the same model, text, context, epochs and learning rate, interleaved; trained tokens per second of each (the
 * trainer's own wall time, and ours for the whole command: checks, tokenizing, F32 copy, hashing) and the ratio.
 * Also the trainer's peak resident memory (GNU time) next to our training-memory estimate.
 *
 *   node dist/bench/finetune-speed.js [--rounds 3] [--epochs 2] [--context 64] [--json FILE]
 * Needs EDGELM_TRAINER (or a trainer built by `edgelm engine build --backend trainer` under EDGELM_HOME).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fineTuneModel, requireTrainer } from "../src/adapt/fine-tune-model.js";
import { loadConfig } from "../src/config/load-config.js";
import { trainerArguments } from "../src/engine/trainer-run.js";
import { readGguf } from "../src/gguf/gguf-reader.js";
import { summarizeGguf } from "../src/gguf/gguf-summary.js";
import { estimateTrainingMemory } from "../src/gguf/training-memory-estimate.js";
import { resolveModel } from "../src/store/resolve-model.js";
import { SHARD_BAKERY, SHARD_BOAT, SHARD_GARDEN } from "../test/adapt/training-stories.js";
import { BENCH_TEST_MODEL, integerOption, jsonOutOption } from "./bench-args.js";
import { median } from "./bench-stats.js";

const rounds = integerOption("--rounds", 3);
const epochs = integerOption("--epochs", 2);
const contextSize = integerOption("--context", 64);
const work = mkdtempSync(join(tmpdir(), "edgelm-bench-finetune-"));
try {
  const { config } = loadConfig({ env: { ...process.env, EDGELM_HOME: process.env.EDGELM_HOME ?? join(work, "home") } });
  const trainer = requireTrainer(config);
  const textFile = join(work, "text.txt");
  writeFileSync(textFile, [SHARD_GARDEN, SHARD_BOAT, SHARD_BAKERY].join("\n"));
  const base = await resolveModel(BENCH_TEST_MODEL, config, { allowDownload: false });
  const threads = availableParallelism();
  const ours: number[] = [];
  const direct: number[] = [];
  let trainedTokens = 0;
  let peakKiB = 0;
  for (let round = 0; round < rounds; round++) {
    const r = await fineTuneModel(base, textFile, join(work, `ours-${round}.gguf`), config, { epochs, contextSize, threads });
    trainedTokens = r.trainedTokens;
    ours.push(r.seconds);
    const args = trainerArguments({
      model: BENCH_TEST_MODEL, textFile, output: join(work, `direct-${round}.gguf`), contextSize, epochs, learningRate: 1e-4, validationSplit: 0.1, optimizer: "adamw", threads,
    });
    const started = performance.now();
    const run = spawnSync("/usr/bin/time", ["-f", "%M", trainer.binary, ...args], { encoding: "utf8" });
    direct.push((performance.now() - started) / 1000);
    if (run.status !== 0) throw new Error(`llama-finetune failed: ${run.stderr.slice(-400)}`);
    peakKiB = Math.max(peakKiB, Number(/(\d+)\s*$/.exec(run.stderr.trim())?.[1] ?? 0));
  }
  const file = readGguf(BENCH_TEST_MODEL);
  const estimate = estimateTrainingMemory(file, summarizeGguf(file), contextSize);
  const result = {
    model: base.name,
    epochs,
    context: contextSize,
    trained_tokens: trainedTokens,
    rounds,
    ours_seconds_median: median(ours),
    direct_seconds_median: median(direct),
    ours_tokens_per_second: trainedTokens / median(ours),
    direct_tokens_per_second: trainedTokens / median(direct),
    ratio: median(direct) / median(ours),
    direct_peak_rss_bytes: peakKiB * 1024,
    estimate_bytes: estimate.totalBytes,
  };
  process.stdout.write(
    `fine-tuning ${base.name}, ${epochs} epochs, contexts of ${contextSize}, ${trainedTokens} trained tokens, ${rounds} interleaved rounds (medians)\n` +
      `  edgelm finetune     ${result.ours_seconds_median.toFixed(2)} s  ${result.ours_tokens_per_second.toFixed(0)} tokens/s\n` +
      `  llama-finetune      ${result.direct_seconds_median.toFixed(2)} s  ${result.direct_tokens_per_second.toFixed(0)} tokens/s\n` +
      `  ratio (ours/direct) ${result.ratio.toFixed(3)}\n` +
      `  trainer peak RSS ${(result.direct_peak_rss_bytes / 1048576).toFixed(1)} MiB, estimate ${(estimate.totalBytes / 1048576).toFixed(1)} MiB\n`,
  );
  const out = jsonOutOption();
  if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
