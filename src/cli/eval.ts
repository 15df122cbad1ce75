/**
 * `edgelm eval <model> --text <file> [--reference <model>]`: perplexity over a
 * text, and against a reference model the mean KL divergence and top-1
 * agreement of next-token distributions (how much a quantization lost).
 */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { openResolvedModel } from "../engine/open-model.js";
import type { LoadedModel } from "../engine/types.js";
import { EdgeError, toEdgeError } from "../errors.js";
import { evaluateText, type TextEvaluation } from "../quality/evaluate-text.js";
import { resolveModel } from "../store/resolve-model.js";
import { action, commandConfig, integerFlag, usageError } from "./cli-kit.js";
import { printTable } from "./format.js";
import { engineFlags, type ModelFlagValues } from "./model-flags.js";
import { ProgressBar } from "./progress-bar.js";

interface EvalFlags extends ModelFlagValues {
  text: string;
  reference?: string;
  window?: number;
  maxTokens?: number;
  json?: boolean;
}

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("measure a model on a text: perplexity, and KL divergence / top-1 agreement against a reference model")
    .argument("<model>", "the model to evaluate (a path or a model reference)")
    .requiredOption("--text <file>", "a UTF-8 text file to score")
    .option("-r, --reference <model>", "compare next-token distributions with this model (e.g. the unquantized original)")
    .option("-w, --window <tokens>", "tokens per evaluation window, BOS included (default: min(512, context))", integerFlag("--window", { min: 3, max: 1 << 20 }))
    .option("--max-tokens <n>", "score at most this many tokens", integerFlag("--max-tokens", { min: 1 }))
    .option("--threads <n>", "threads", integerFlag("--threads", { min: 1, max: 1024 }))
    .option("--json", "print JSON")
    .option("--config <file>", "config file")
    .action(action(evalCommand));
}

async function readText(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw toEdgeError(error, `cannot read --text ${path}`);
  }
  if (text.trim().length === 0) throw usageError(`--text ${path} is empty`, "text");
  return text;
}

async function evalCommand(modelRef: string, flags: EvalFlags): Promise<void> {
  const config = commandConfig(flags, engineFlags(flags));
  const text = await readText(flags.text);
  const resolved = await resolveModel(modelRef, config, { allowDownload: false });
  const referenceResolved = flags.reference !== undefined ? await resolveModel(flags.reference, config, { allowDownload: false }) : undefined;
  // The context must hold a window; windows beyond 512 tokens add little to the estimate.
  const contextSize = Math.max(flags.window ?? 512, 16);
  const load = { parallel: 1, contextSize };
  const models: LoadedModel[] = [];
  const bar = new ProgressBar("evaluating");
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once("SIGINT", onSigint);
  let result: TextEvaluation;
  try {
    const model = (await openResolvedModel(resolved, config, load)).model;
    models.push(model);
    const reference = referenceResolved ? (await openResolvedModel(referenceResolved, config, load)).model : undefined;
    if (reference) models.push(reference);
    if ((flags.window ?? 0) > model.info.contextSize) {
      throw new EdgeError("invalid_request", `--window ${flags.window} exceeds the model's context of ${model.info.contextSize} tokens`, { param: "window" });
    }
    result = await evaluateText(model, text, {
      ...(reference ? { reference } : {}),
      ...(flags.window !== undefined ? { windowSize: flags.window } : {}),
      ...(flags.maxTokens !== undefined ? { maxTokens: flags.maxTokens } : {}),
      signal: controller.signal,
      onProgress: (done, total) => bar.update(done, total),
    });
  } finally {
    bar.done();
    process.off("SIGINT", onSigint);
    await Promise.all(models.map((m) => m.dispose()));
  }
  const r = result.reference;
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({
        model: resolved.name,
        reference: referenceResolved?.name ?? null,
        text: flags.text,
        tokens: result.tokens,
        windows: result.windows,
        window_size: result.windowSize,
        perplexity: result.perplexity,
        mean_nll: result.meanNll,
        ...(r
          ? {
              reference_perplexity: r.perplexity,
              perplexity_ratio: r.perplexityRatio,
              mean_kl: r.meanKl,
              kl_99: r.kl99,
              max_kl: r.maxKl,
              top1_agreement: r.top1Agreement,
            }
          : {}),
        seconds: Number(result.seconds.toFixed(3)),
      })}\n`,
    );
    return;
  }
  const rows = [
    ["model", resolved.name],
    ["tokens scored", `${result.tokens} (${result.windows} window${result.windows === 1 ? "" : "s"} of ≤ ${result.windowSize})`],
    ["perplexity", result.perplexity.toFixed(4)],
  ];
  if (r && referenceResolved) {
    rows.push(
      ["reference", referenceResolved.name],
      ["reference perplexity", `${r.perplexity.toFixed(4)} (ratio ${r.perplexityRatio.toFixed(4)}, ${((r.perplexityRatio - 1) * 100).toFixed(2)}%)`],
      ["mean KL divergence", `${r.meanKl.toFixed(6)} nats (99th percentile ${r.kl99.toFixed(5)}, max ${r.maxKl.toFixed(5)})`],
      ["same top token", `${(r.top1Agreement * 100).toFixed(2)}%`],
    );
  }
  rows.push(["time", `${result.seconds.toFixed(1)} s`]);
  printTable(process.stdout, rows);
}
