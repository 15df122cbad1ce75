/**
 * Compares a greedy answer with a cold evaluation's, allowing only what float
 * arithmetic can do. llama.cpp's logits are not bit-identical across batch
 * shapes and KV cell placements (a reused prefix leaves the new tokens in a
 * smaller batch, at other cells), and the CPU kernels ggml picks differ per
 * CPU. On a 260K-parameter model two candidates are sometimes within a few
 * thousandths of a nat, so a reordered sum can flip the greedy choice. A wrong
 * reuse (wrong positions, another sequence's cells, a stale state) changes the
 * distribution itself, far beyond that.
 *
 * So: the answers are equal, or they agree up to the first token where they
 * part, and there the cold evaluation's top two candidates were within
 * NEAR_TIE_NATS and the other answer took the runner-up.
 */
import assert from "node:assert/strict";
import type { GenerateRequest, LoadedModel, TokenLogprob } from "../../src/engine/types.js";

export const NEAR_TIE_NATS = 0.05;

export interface GreedyAnswer {
  text: string;
  tokens: number[];
  /** Per generated token: its logprob and the top alternatives. */
  steps: Array<TokenLogprob & { top: TokenLogprob[] }>;
  cachedPromptTokens: number;
}

/** Runs a request to its end, keeping tokens and their top-2 alternatives. */
export async function greedyAnswer(model: LoadedModel, request: GenerateRequest): Promise<GreedyAnswer> {
  const stream = await model.generate({ ...request, temperature: 0, logprobs: 2 });
  const tokens: number[] = [];
  const steps: GreedyAnswer["steps"] = [];
  for await (const chunk of stream) {
    tokens.push(...chunk.tokens);
    steps.push(...(chunk.logprobs ?? []));
  }
  const result = await stream.result;
  return { text: result.text, tokens, steps, cachedPromptTokens: result.timings.cachedPromptTokens };
}

export function assertGreedyAgreement(actual: GreedyAnswer, cold: GreedyAnswer, what: string): void {
  if (actual.text === cold.text) return;
  const parted = cold.steps.findIndex((step, i) => actual.steps[i]?.id !== step.id);
  const at = parted === -1 ? Math.min(actual.steps.length, cold.steps.length) : parted;
  const reference = cold.steps[at];
  assert.ok(reference, `${what}: answers differ (${JSON.stringify(actual.text)} vs cold ${JSON.stringify(cold.text)}) with no cold token to compare at ${at}`);
  const [first, second] = [...reference.top].sort((a, b) => b.logprob - a.logprob);
  assert.ok(first && second, `${what}: the cold evaluation gave fewer than 2 candidates at token ${at}`);
  const gap = first.logprob - second.logprob;
  const took = actual.steps[at]?.id;
  assert.ok(
    gap <= NEAR_TIE_NATS && took === second.id,
    `${what}: answers part at token ${at} (${JSON.stringify(actual.text)} vs cold ${JSON.stringify(cold.text)}); ` +
      `cold's top two there were ${JSON.stringify(first.token)} ${first.logprob.toFixed(4)} and ${JSON.stringify(second.token)} ` +
      `${second.logprob.toFixed(4)} (gap ${gap.toFixed(4)} nats, a near-tie is ≤ ${NEAR_TIE_NATS}), and this answer took ${took}`,
  );
}
