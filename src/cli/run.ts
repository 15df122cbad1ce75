/**
 * `edgelm run [model] [prompt]`: generate from a prompt (streamed to stdout),
 * or chat (`--chat`, or no prompt on a terminal).
 */
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import type { Config } from "../config/schema.js";
import { openResolvedModel } from "../engine/open-model.js";
import type { ChatMessage, GenerateRequest, GenerationResult, LoadedModel } from "../engine/types.js";
import { EdgeError } from "../errors.js";
import { looksLikeNameWithTag } from "../store/model-ref.js";
import { DEMO_NOTICE, isModelReference, resolveModel } from "../store/resolve-model.js";
import { terminalProgress } from "./progress-bar.js";
import { StatusLine } from "./status-line.js";
import { checkAdaptersForBase, parseAdapterFlag } from "../adapt/lora-adapter.js";
import { prepareAppliedAdapters } from "../engine/prepare-adapters.js";
import { sha256File } from "../trust/file-hash.js";
import { action, collect, commandConfig, readStdin, usageError } from "./cli-kit.js";
import { addModelFlags, engineFlags, type ModelFlagValues } from "./model-flags.js";
import { addSamplingFlags, samplingFromFlags, type SamplingFlagValues } from "./sampling-flags.js";

interface RunFlags extends ModelFlagValues, SamplingFlagValues {
  lora?: string[];
  chat?: boolean;
  system?: string;
  json?: boolean;
  verbose?: boolean;
}

export function registerRun(program: Command): void {
  const command = program
    .command("run")
    .description("generate text from a prompt, or chat with a model")
    .argument("[model]", "model reference (when it resolves as one), else the prompt")
    .argument("[prompt...]", "the prompt (or pipe it on stdin)")
    .option("--chat", "multi-turn chat (a REPL on a terminal); applies the model's chat template")
    .option("-s, --system <text>", "system message for chat")
    .option("--json", "print one JSON object with the text and timings")
    .option("--lora <file[:scale]>", "apply a LoRA adapter made for the model (repeatable; scale default 1)", collect)
    .option("-v, --verbose", "print timings to stderr");
  addModelFlags(command);
  addSamplingFlags(command);
  command.action(action(runCommand));
}

/** Splits positionals into model and prompt, following the conventions in docs/models.md. */
async function splitArguments(first: string | undefined, rest: string[], flags: RunFlags, config: Config) {
  let model = flags.model;
  let promptParts: string[] = [];
  if (first !== undefined) {
    if (model !== undefined) promptParts = [first, ...rest];
    else if (rest.length > 0) {
      model = first;
      promptParts = rest;
    } else if (await isModelReference(first, config)) model = first;
    else if (looksLikeNameWithTag(first)) model = first; // resolves to an error with a suggestion
    else promptParts = [first];
  }
  return { model, prompt: promptParts.length > 0 ? promptParts.join(" ") : undefined };
}

async function runCommand(first: string | undefined, rest: string[], flags: RunFlags, _command: Command): Promise<void> {
  const config = commandConfig(flags, engineFlags(flags));
  const { model: ref, prompt: argPrompt } = await splitArguments(first, rest, flags, config);
  const sampling = samplingFromFlags(flags);
  const reporter = terminalProgress({ quiet: flags.json === true });
  const progress = reporter ? { progress: reporter } : {};
  const resolved = await resolveModel(ref, config, progress);
  const interactive = process.stdin.isTTY === true;
  let prompt = argPrompt;
  if (prompt === undefined && !interactive) prompt = (await readStdin()).replace(/\s+$/, "");
  const repl = prompt === undefined || (flags.chat === true && interactive && argPrompt === undefined);
  if (prompt !== undefined && prompt.trim().length === 0 && !repl) {
    throw usageError("no prompt given: pass one as an argument or pipe it on stdin", "prompt");
  }
  if (resolved.source === "demo") process.stderr.write(`${DEMO_NOTICE}\n`);
  const flagged = (flags.lora ?? []).map(parseAdapterFlag);
  await checkAdaptersForBase(resolved.path, flagged);
  // A store model made with adapters (Ollama's ADAPTER) applies them, verified as the gateway verifies them.
  const stored = resolved.manifest?.adapters?.length
    ? await prepareAppliedAdapters(resolved.manifest.adapters, { name: resolved.name, path: resolved.path, sha256: resolved.expectedSha256 ?? (await sha256File(resolved.path)) }, config)
    : [];
  const adapters = [...flagged, ...stored.map((a) => ({ path: a.path, scale: a.scale }))];
  // The first run in a fresh EDGELM_HOME loads the engine and measures threads: say so on a terminal, quietly.
  const status = new StatusLine(process.stderr, process.stderr.isTTY === true && !flags.json);
  let opened;
  try {
    opened = await openResolvedModel(resolved, config, {
      parallel: 1,
      ...(adapters.length > 0 ? { adapters } : {}),
      ...(flags.retune ? { retuneThreads: true } : {}),
      ...progress,
      onLoading: () => status.set(`loading ${resolved.name}…`),
      onThreadTuning: () => status.set("measuring the best thread counts for this model on this machine (once)…", { now: true }),
    });
  } finally {
    status.clear();
  }
  const { model, loadMs } = opened;
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    if (repl) {
      await chatRepl(model, flags, sampling);
      return;
    }
    const request: GenerateRequest = flags.chat
      ? { ...sampling, messages: [...(flags.system ? [{ role: "system" as const, content: flags.system }] : []), { role: "user", content: prompt! }] }
      : { ...sampling, prompt: prompt! };
    const result = await generateTo(model, request, controller.signal, flags.json ? undefined : process.stdout);
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify({
          model: model.info.name,
          text: result.text,
          finish_reason: result.finishReason,
          load_ms: Math.round(loadMs),
          timings: result.timings,
        })}\n`,
      );
    } else {
      process.stdout.write("\n");
      if (flags.verbose) printTimings(result, loadMs);
    }
    if (result.finishReason === "abort") process.exitCode = 130;
  } finally {
    process.off("SIGINT", onSigint);
    await model.dispose();
  }
}

async function generateTo(
  model: LoadedModel,
  request: GenerateRequest,
  signal: AbortSignal,
  out: NodeJS.WritableStream | undefined,
): Promise<GenerationResult> {
  const stream = await model.generate(request, signal);
  for await (const chunk of stream) out?.write(chunk.text);
  return stream.result;
}

function printTimings(result: GenerationResult, loadMs: number): void {
  const t = result.timings;
  process.stderr.write(
    `load ${Math.round(loadMs)} ms · prompt ${t.promptTokens} tokens · first token ${t.timeToFirstTokenMs.toFixed(1)} ms · ` +
      `${t.completionTokens} tokens at ${t.decodeTokensPerSecond.toFixed(1)} tokens/s (${t.perTokenMs.toFixed(2)} ms/token) · ${result.finishReason}\n`,
  );
}

async function chatRepl(model: LoadedModel, flags: RunFlags, sampling: ReturnType<typeof samplingFromFlags>): Promise<void> {
  const messages: ChatMessage[] = flags.system ? [{ role: "system", content: flags.system }] : [];
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  process.stdout.write(`chatting with ${model.info.name}; /bye or Ctrl-D to leave, /clear to start over\n`);
  try {
    for (;;) {
      let line: string;
      try {
        line = await rl.question(">>> ");
      } catch {
        break; // Ctrl-D / closed input
      }
      const text = line.trim();
      if (text === "/bye" || text === "/exit") break;
      if (text === "/clear") {
        messages.splice(flags.system ? 1 : 0);
        continue;
      }
      if (text.length === 0) continue;
      messages.push({ role: "user", content: text });
      const controller = new AbortController();
      const onSigint = (): void => controller.abort();
      process.on("SIGINT", onSigint);
      try {
        const result = await generateTo(model, { ...sampling, messages }, controller.signal, process.stdout);
        process.stdout.write("\n");
        messages.push({ role: "assistant", content: result.text });
        if (flags.verbose) printTimings(result, 0);
      } catch (error) {
        if (error instanceof EdgeError && error.code === "context_overflow") {
          process.stderr.write(`edgelm: ${error.message}; /clear to start over\n`);
          messages.pop();
        } else throw error;
      } finally {
        process.off("SIGINT", onSigint);
      }
    }
  } finally {
    rl.close();
  }
}
