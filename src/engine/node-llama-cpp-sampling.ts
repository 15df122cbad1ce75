/**
 * Sampling on the node-llama-cpp engine: a GenerateRequest's samplers,
 * penalties, logit biases and grammar as node-llama-cpp's evaluation options,
 * and the log-probabilities of a generated token.
 */
import { LlamaGrammarEvaluationState, TokenBias, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import { DEFAULT_SAMPLING, type GenerateRequest, type TokenLogprob } from "./types.js";

/** node-llama-cpp's evaluation options for a request: samplers, penalties over `generated`, biases, the grammar. */
export function samplingOptions(model: LlamaModel, request: GenerateRequest, generated: Token[], grammar: LlamaGrammar | undefined) {
  const temperature = request.temperature ?? DEFAULT_SAMPLING.temperature;
  const repeatPenalty = request.repeatPenalty ?? 1;
  const frequencyPenalty = request.frequencyPenalty ?? 0;
  const presencePenalty = request.presencePenalty ?? 0;
  const lastN = request.repeatLastN ?? DEFAULT_SAMPLING.repeatLastN;
  const usePenalty = repeatPenalty !== 1 || frequencyPenalty !== 0 || presencePenalty !== 0;
  let tokenBias: TokenBias | undefined;
  if (request.logitBias && Object.keys(request.logitBias).length > 0) {
    tokenBias = new TokenBias(model.tokenizer);
    for (const [id, bias] of Object.entries(request.logitBias)) {
      tokenBias.set(Number(id) as Token, bias <= -100 ? "never" : { logit: bias });
    }
  }
  if (request.ignoreEos) {
    // As llama-server's ignore_eos: end-of-text tokens can never be sampled.
    tokenBias ??= new TokenBias(model.tokenizer);
    for (const token of [model.tokens.eos, model.tokens.eot]) if (token != null) tokenBias.set(token, "never");
  }
  return {
    temperature,
    topK: request.topK ?? DEFAULT_SAMPLING.topK,
    topP: request.topP ?? DEFAULT_SAMPLING.topP,
    minP: request.minP ?? DEFAULT_SAMPLING.minP,
    ...(request.seed !== undefined ? { seed: request.seed } : {}),
    ...(usePenalty
      ? {
          repeatPenalty: {
            punishTokens: () => generated.slice(-lastN),
            maxPunishTokens: lastN,
            penalty: repeatPenalty,
            frequencyPenalty,
            presencePenalty,
          },
        }
      : {}),
    ...(tokenBias ? { tokenBias } : {}),
    ...(grammar ? { grammarEvaluationState: new LlamaGrammarEvaluationState({ model, grammar }) } : {}),
  };
}

/** A token's log-probability and the top alternatives; token texts are decoded after `before` so leading spaces survive. */
export function logprobEntry(
model: LlamaModel,
token: Token,
  output: { confidence?: number; probabilities?: Map<Token, number> },
  topN: number,
  before: Token[],
): TokenLogprob & { top: TokenLogprob[] } {
  const text = (id: Token): string => model.detokenize([id], true, before);
  const top: TokenLogprob[] = [];
  if (output.probabilities) {
    for (const [id, p] of output.probabilities) {
      if (top.length >= topN || p <= 0) break;
      top.push({ id, token: text(id), logprob: Math.log(p) });
    }
  }
  const p = output.confidence ?? output.probabilities?.get(token) ?? 0;
  return { id: token, token: text(token), logprob: Math.log(p), top };
}
