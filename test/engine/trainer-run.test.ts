import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseTrainerLine, runTrainer, trainerArguments } from "../../src/engine/trainer-run.js";
import { TEST_MODEL, testTrainer } from "../helpers.js";
import { SHARD_GARDEN } from "../adapt/training-stories.js";

describe("trainer progress lines", () => {
  it("reads llama.cpp's training and validation progress", () => {
    assert.deepEqual(parseTrainerLine("train: [████▌   ] data=0000016/0000032 loss=1.81659±0.02107 acc=50.73±0.61% t=00:00:03 ETA=00:00:03 "), {
      phase: "train",
      done: 16,
      total: 32,
      loss: 1.81659,
      accuracy: 0.5073,
    });
    assert.deepEqual(parseTrainerLine("val:   [████████] data=0000004/0000004 loss=1.93264±0.05000 acc=48.05±1.56% t=00:00:00 ETA=00:00:00 "), {
      phase: "val",
      done: 4,
      total: 4,
      loss: 1.93264,
      accuracy: 0.4805,
    });
    assert.equal(Number.isNaN(parseTrainerLine("train: [        ] data=0000001/0000032 loss=nan±nan acc=0.00±0.00% t=00:00:00 ETA=00:00:00")!.loss), true);
    assert.equal(parseTrainerLine("llama_model_loader: loaded meta data with 20 key-value pairs"), undefined);
  });

  it("gives the trainer one context per batch", () => {
    const args = trainerArguments({ model: "m.gguf", textFile: "t.txt", output: "o.gguf", contextSize: 64, epochs: 2, learningRate: 1e-4, validationSplit: 0.1, optimizer: "adamw", threads: 2 });
    for (const flag of ["--ctx-size", "--batch-size", "--ubatch-size"]) assert.equal(args[args.indexOf(flag) + 1], "64", flag);
    assert.equal(args[args.indexOf("--epochs") + 1], "2");
    assert.equal(args[args.indexOf("--optimizer") + 1], "adamw");
  });

  it("counts every epoch when nothing is held out for validation (the real trainer)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-trainer-"));
    try {
      const textFile = join(dir, "text.txt");
      writeFileSync(textFile, SHARD_GARDEN);
      const result = await runTrainer({ binary: await testTrainer(), model: TEST_MODEL, textFile, output: join(dir, "out.gguf"), contextSize: 64, epochs: 3, learningRate: 1e-4, validationSplit: 0, optimizer: "adamw", threads: 1 });
      assert.deepEqual(result.epochs.map((e) => e.epoch), [1, 2, 3]);
      for (const e of result.epochs) assert.ok(e.trainContexts > 0 && e.valContexts === 0 && e.valLoss === undefined, JSON.stringify(e));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
