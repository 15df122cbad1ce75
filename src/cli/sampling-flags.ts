/** Sampling and generation flags shared by the commands that generate. */
import type { Command } from "commander";
import type { SamplingOptions } from "../engine/types.js";
import { collect, integerFlag, numberFlag } from "./cli-kit.js";

export interface SamplingFlagValues {
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  repeatLastN?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  seed?: number;
  stop?: string[];
}

export function addSamplingFlags(command: Command): Command {
  return command
    .option("-n, --max-tokens <n>", "tokens to generate; -1 = until end of text or the context is full", integerFlag("--max-tokens", { min: 1, allowMinusOne: true }))
    .option("-t, --temperature <t>", "sampling temperature; 0 = greedy (default 0.8)", numberFlag("--temperature", { min: 0, max: 100 }))
    .option("--top-k <k>", "keep the k most likely tokens; 0 = off (default 40)", integerFlag("--top-k", { min: 0 }))
    .option("--top-p <p>", "nucleus sampling mass; 1 = off (default 0.95)", numberFlag("--top-p", { min: 0, max: 1 }))
    .option("--min-p <p>", "drop tokens below p × the top probability; 0 = off (default 0.05)", numberFlag("--min-p", { min: 0, max: 1 }))
    .option("--repeat-penalty <x>", "penalty for recently seen tokens; 1 = off (default 1)", numberFlag("--repeat-penalty", { min: 0, max: 10 }))
    .option("--repeat-last-n <n>", "how many recent tokens the penalties see (default 64)", integerFlag("--repeat-last-n", { min: 0 }))
    .option("--frequency-penalty <x>", "OpenAI-style frequency penalty (default 0)", numberFlag("--frequency-penalty", { min: -2, max: 2 }))
    .option("--presence-penalty <x>", "OpenAI-style presence penalty (default 0)", numberFlag("--presence-penalty", { min: -2, max: 2 }))
    .option("--seed <n>", "fixed seed for reproducible sampling", integerFlag("--seed", { min: 0, max: 2 ** 32 - 1 }))
    .option("--stop <text>", "stop when this text is generated (repeatable)", collect);
}

export function samplingFromFlags(values: SamplingFlagValues): SamplingOptions & { maxTokens?: number; stop?: string[] } {
  const out: SamplingOptions & { maxTokens?: number; stop?: string[] } = {};
  if (values.maxTokens !== undefined) out.maxTokens = values.maxTokens;
  if (values.temperature !== undefined) out.temperature = values.temperature;
  if (values.topK !== undefined) out.topK = values.topK;
  if (values.topP !== undefined) out.topP = values.topP;
  if (values.minP !== undefined) out.minP = values.minP;
  if (values.repeatPenalty !== undefined) out.repeatPenalty = values.repeatPenalty;
  if (values.repeatLastN !== undefined) out.repeatLastN = values.repeatLastN;
  if (values.frequencyPenalty !== undefined) out.frequencyPenalty = values.frequencyPenalty;
  if (values.presencePenalty !== undefined) out.presencePenalty = values.presencePenalty;
  if (values.seed !== undefined) out.seed = values.seed;
  if (values.stop !== undefined) out.stop = values.stop;
  return out;
}
