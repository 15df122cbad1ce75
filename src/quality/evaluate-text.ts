/**
 * Quality of a model over a text: perplexity, and — against a reference model
 * (usually the unquantized original) — the mean KL divergence of the
 * next-token distributions and how often both pick the same top token. The
 * standard way to judge a quantization (as llama.cpp's perplexity tool does
 * with --kl-divergence).
 *
 * The text is tokenized once and cut into windows of `windowSize` tokens, each
 * evaluated from an empty context and starting with BOS when the model uses
 * one; every text token after the first of the text is scored exactly once.
 */
import type { LoadedModel } from "../engine/types.js";
import { EdgeError } from "../errors.js";

export interface EvaluateTextOptions {
  /** Compare against this model's distributions (it must share the vocabulary). */
  reference?: LoadedModel;
  /** Tokens per window, BOS included. Default: min(512, the context size of every model). */
  windowSize?: number;
  /** Score at most this many tokens. Default: the whole text. */
  maxTokens?: number;
  signal?: AbortSignal;
  /** Tokens scored so far, of the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface ReferenceComparison {
  /** Perplexity of the reference model over the same tokens. */
  perplexity: number;
  /** Model perplexity / reference perplexity. */
  perplexityRatio: number;
  /** Mean KL(reference ‖ model) per token, in nats. */
  meanKl: number;
  /** 99th percentile and maximum of the per-token KL divergence, in nats. */
  kl99: number;
  maxKl: number;
  /** Share of positions (0–1) where both models' most likely next token is the same. */
  top1Agreement: number;
}

export interface TextEvaluation {
  /** Tokens whose probability was scored. */
  tokens: number;
  windows: number;
  windowSize: number;
  /** exp(mean negative log-likelihood). */
  perplexity: number;
  /** Mean negative log-likelihood per token, in nats. */
  meanNll: number;
  reference?: ReferenceComparison;
  seconds: number;
}

/** log(smallest positive float32): where underflowed probabilities are floored, so KL stays finite. */
const LOG_FLOOR = -103.28;

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** KL(p ‖ q) from natural-log probabilities. */
function klDivergence(logP: Float32Array, logQ: Float32Array): number {
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const lp = logP[i]!;
    if (lp === Number.NEGATIVE_INFINITY) continue;
    kl += Math.exp(lp) * (lp - Math.max(logQ[i]!, LOG_FLOOR));
  }
  // Rounding in float32 softmax can leave tiny negative sums for identical distributions.
  return Math.max(0, kl);
}

function requireScoring(model: LoadedModel): NonNullable<LoadedModel["nextTokenLogprobs"]> {
  if (!model.nextTokenLogprobs) {
    throw new EdgeError("unsupported", `the ${model.info.backend} backend cannot return full next-token distributions, which evaluation needs`);
  }
  return model.nextTokenLogprobs.bind(model);
}

export async function evaluateText(model: LoadedModel, text: string, options: EvaluateTextOptions = {}): Promise<TextEvaluation> {
  const started = performance.now();
  const { reference } = options;
  if (reference === model) throw new EdgeError("usage", "the reference must be a separately loaded model");
  const score = requireScoring(model);
  const scoreReference = reference ? requireScoring(reference) : undefined;
  const bos = await model.tokenize("", { addBos: true });
  let textTokens = await model.tokenize(text, { addBos: false });
  if (reference) {
    const theirs = await reference.tokenize(text, { addBos: false });
    const sameVocab = model.info.vocabSize === reference.info.vocabSize;
    const sameTokens = theirs.length === textTokens.length && theirs.every((t, i) => t === textTokens[i]);
    if (!sameVocab || !sameTokens) {
      throw new EdgeError(
        "unsupported",
        `${model.info.name} and ${reference.info.name} do not share a vocabulary (${model.info.vocabSize} and ${reference.info.vocabSize} tokens${sameVocab ? ", and they tokenize the text differently" : ""}); KL divergence compares the same tokens`,
      );
    }
  }
  const contextLimit = Math.min(model.info.contextSize, reference?.info.contextSize ?? Number.POSITIVE_INFINITY);
  const windowSize = options.windowSize ?? Math.min(512, contextLimit);
  if (!Number.isInteger(windowSize) || windowSize < bos.length + 2 || windowSize > contextLimit) {
    throw new EdgeError("invalid_request", `the window must be between ${bos.length + 2} and ${contextLimit} tokens (the context size), got ${windowSize}`, {
      param: "ctx",
    });
  }
  // Without BOS the first text token has nothing to be predicted from.
  const total = Math.min(textTokens.length - (bos.length > 0 ? 0 : 1), options.maxTokens ?? Number.POSITIVE_INFINITY);
  if (total < 1) throw new EdgeError("invalid_request", "the text is too short to evaluate: it needs at least two tokens", { param: "text" });
  textTokens = textTokens.slice(0, total + (bos.length > 0 ? 0 : 1));

  const perWindow = windowSize - bos.length;
  // Without BOS, consecutive windows share one token: the last of one is the first of the next.
  const step = bos.length > 0 ? perWindow : perWindow - 1;
  let scored = 0;
  let nll = 0;
  let referenceNll = 0;
  let agree = 0;
  const kls: number[] = [];
  let windows = 0;
  for (let start = 0; scored < total; start += step) {
    const window = [...bos, ...textTokens.slice(start, start + perWindow)];
    if (window.length < 2) break;
    windows++;
    const ours = score(window, options.signal)[Symbol.asyncIterator]();
    const theirs = scoreReference?.(window, options.signal)[Symbol.asyncIterator]();
    try {
      // Position i's distribution predicts window[i + 1]; the last one predicts past the window.
      for (let i = 0; i < window.length; i++) {
        const a = await ours.next();
        const b = theirs ? await theirs.next() : undefined;
        if (a.done || b?.done) throw new EdgeError("internal", "the engine returned fewer distributions than tokens");
        if (i === window.length - 1) continue;
        const next = window[i + 1]!;
        nll -= Math.max(a.value[next]!, LOG_FLOOR);
        if (b && !b.done) {
          referenceNll -= Math.max(b.value[next]!, LOG_FLOOR);
          kls.push(klDivergence(b.value, a.value));
          if (argmax(a.value) === argmax(b.value)) agree++;
        }
        scored++;
        options.onProgress?.(scored, total);
      }
    } finally {
      await ours.return?.();
      await theirs?.return?.();
    }
  }
  const meanNll = nll / scored;
  const result: TextEvaluation = {
    tokens: scored,
    windows,
    windowSize,
    perplexity: Math.exp(meanNll),
    meanNll,
    seconds: (performance.now() - started) / 1000,
  };
  if (reference) {
    const sorted = [...kls].sort((x, y) => x - y);
    const referencePerplexity = Math.exp(referenceNll / scored);
    result.reference = {
      perplexity: referencePerplexity,
      perplexityRatio: result.perplexity / referencePerplexity,
      meanKl: kls.reduce((s, k) => s + k, 0) / kls.length,
      kl99: sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))]!,
      maxKl: sorted[sorted.length - 1]!,
      top1Agreement: agree / scored,
    };
  }
  return result;
}
