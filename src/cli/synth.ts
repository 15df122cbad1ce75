/**
 * `edgelm synth --shape <name|params> --type <t> --out <file>`: writes a
 * llama-shaped model with random weights (for benchmarks and capacity planning).
 */
import type { Command } from "commander";
import { SYNTHETIC_TYPES, writeSyntheticModel, type SyntheticType } from "../gguf/synthetic-model.js";
import { parseSyntheticShape, SYNTHETIC_SHAPES } from "../gguf/synthetic-shape.js";
import { action, commandConfig, integerFlag, usageError } from "./cli-kit.js";
import { formatBytes, formatCount, printTable } from "./format.js";
import { ProgressBar } from "./progress-bar.js";

interface SynthFlags {
  shape: string;
  type: string;
  out: string;
  seed: number;
  json?: boolean;
  config?: string;
}

export function registerSynth(program: Command): void {
  program
    .command("synth")
    .description("write a llama-shaped model with random weights (for benchmarks: speed depends on shape and type, not values)")
    .requiredOption(
      "--shape <shape>",
      `a named shape (${Object.keys(SYNTHETIC_SHAPES).join(", ")}), parameters (embd=512,layers=4,heads=8,kv=8,ffn=1408,vocab=32000[,ctx=,rope=,eps=,tied]), or a name with overrides (360m,layers=2)`,
    )
    .option("--type <type>", `weight type: ${SYNTHETIC_TYPES.join(", ")}`, "f16")
    .requiredOption("-o, --out <file>", "the GGUF file to write")
    .option("--seed <n>", "seed of the random weights", integerFlag("--seed", { min: 0, max: 0xffffffff }), 1)
    .option("--json", "print a JSON summary")
    .option("--config <file>", "config file")
    .action(action(synthCommand));
}

async function synthCommand(flags: SynthFlags): Promise<void> {
  commandConfig(flags);
  const shape = parseSyntheticShape(flags.shape);
  const type = flags.type.trim().toLowerCase() as SyntheticType;
  if (!SYNTHETIC_TYPES.includes(type)) throw usageError(`--type must be one of ${SYNTHETIC_TYPES.join(", ")} (got "${flags.type}")`, "type");
  const bar = new ProgressBar(`synth ${shape.name} ${type}`);
  const started = performance.now();
  let result;
  try {
    result = await writeSyntheticModel(flags.out, { shape, type, seed: flags.seed, onProgress: (done, total) => bar.update(done, total) });
  } finally {
    bar.done();
  }
  const seconds = (performance.now() - started) / 1000;
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({
        path: result.path,
        shape: { ...shape },
        type,
        seed: flags.seed,
        parameters: result.parameterCount,
        file_size: result.fileSize,
        tensor_types: result.tensorTypes,
        seconds: Number(seconds.toFixed(3)),
      })}\n`,
    );
    return;
  }
  const out = process.stdout;
  out.write(`wrote ${result.path}\n`);
  printTable(out, [
    ["shape", `${shape.name}${shape.basedOn ? ` (${shape.basedOn} dimensions)` : ""}`],
    ["dims", `embd ${shape.embedding}, layers ${shape.layers}, heads ${shape.heads} (kv ${shape.kvHeads}), ffn ${shape.feedForward}, vocab ${shape.vocab}${shape.tiedEmbeddings ? ", tied embeddings" : ""}`],
    ["parameters", formatCount(result.parameterCount)],
    ["tensor types", Object.entries(result.tensorTypes).map(([t, n]) => `${t} ×${n}`).join(", ")],
    ["file size", formatBytes(result.fileSize)],
    ["time", `${seconds.toFixed(1)} s`],
  ]);
}
