/**
 * The built-in demo model: a word-bigram language model over DEMO_STORIES,
 * written as llama-architecture GGUF weights that llama.cpp runs unchanged.
 *
 * How the weights encode the bigram table:
 * - Every "state" (a word, a punctuation mark, the start of a story, or
 *   "other" for pieces that are not whole words) has one embedding dimension;
 *   a token's embedding is the one-hot vector of its state.
 * - Attention and feed-forward weights are zero, so the residual stream
 *   carries the current token's one-hot vector to the output unchanged.
 * - The final RMS norm turns the one-hot vector v into s·v with
 *   s = 1/sqrt(1/d + eps); the output matrix holds log P(next | state) / s, so
 *   the logits are exactly the log-probabilities of the next token.
 * - The vocabulary holds every word with a leading "▁" and all its prefixes,
 *   scored by length, so llama.cpp's SPM tokenizer merges whole words.
 *
 * Because the next-token distributions are known exactly ({@link demoNextTokenProbabilities}),
 * tests can check sampling against the truth, not just that text came out.
 */
import { GGML_TYPE, ggmlTypeInfo } from "../gguf/ggml-types.js";
import { GgufValueType, type TypedGgufValue } from "../gguf/gguf-values.js";
import type { GgufDocument } from "../gguf/gguf-writer.js";
import { llamaModelMetadata } from "../gguf/llama-metadata.js";
import { DEMO_STORIES } from "./corpus.js";

export const DEMO_MODEL_NAME = "demo";

const SPACE = "\u2581";
const EPS = 1e-5;
const CONTEXT_LENGTH = 2048;
const FEED_FORWARD = 32;
const HEADS = 2;
/**
 * Log-probability for words that never follow a state: e^-30 ≈ 1e-13, never sampled in practice,
 * yet close enough to real log-probabilities that quantized variants (Q8_0, Q4_0) keep them accurate.
 */
const IMPOSSIBLE_LOG_PROB = -30;

/** SentencePiece token types as GGUF stores them. */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;

export interface DemoVocabulary {
  /** Token texts in id order (0 <unk>, 1 <s>, 2 </s>, 3–258 the bytes <0x00>–<0xFF>, then pieces). */
  tokens: string[];
  scores: number[];
  types: number[];
  /** Token id of each word or punctuation mark (as written in the corpus). */
  wordToken: Map<string, number>;
  /** Embedding dimension (state) of each token id. */
  stateOfToken: number[];
  /** Number of states: words and marks, then "start", then "other". */
  stateCount: number;
  startState: number;
  otherState: number;
}

const isPunctuation = (word: string): boolean => /^[.,!?]$/.test(word);

/** The corpus as word lists, one per story. */
function storyWords(): string[][] {
  return DEMO_STORIES.map((story) => story.split(/\s+/).filter((w) => w.length > 0));
}

export function demoVocabulary(): DemoVocabulary {
  const words: string[] = [];
  const seen = new Set<string>();
  for (const story of storyWords()) {
    for (const word of story) {
      if (!seen.has(word)) {
        seen.add(word);
        words.push(word);
      }
    }
  }
  const tokens = ["<unk>", "<s>", "</s>"];
  const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control];
  // Byte fallback tokens: llama.cpp's SPM tokenizer needs them for characters outside the vocabulary.
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(TOKEN_TYPE.byte);
  }
  const index = new Map<string, number>();
  const addPiece = (piece: string): number => {
    let id = index.get(piece);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(piece);
      types.push(TOKEN_TYPE.normal);
      index.set(piece, id);
    }
    return id;
  };
  const wordToken = new Map<string, number>();
  for (const word of words) {
    if (isPunctuation(word)) {
      wordToken.set(word, addPiece(word));
      continue;
    }
    const piece = SPACE + word;
    for (let n = 1; n < piece.length; n++) addPiece(piece.slice(0, n));
    wordToken.set(word, addPiece(piece));
  }
  // Longer pieces win merges; control tokens never take part in merging.
  const scores = tokens.map((t, id) => (types[id] === TOKEN_TYPE.normal ? t.length : 0));
  const stateOfWordToken = new Map<number, number>();
  words.forEach((word, state) => stateOfWordToken.set(wordToken.get(word)!, state));
  const startState = words.length;
  const otherState = words.length + 1;
  const stateOfToken = tokens.map((_, id) => (id === 1 ? startState : stateOfWordToken.get(id) ?? otherState));
  return { tokens, scores, types, wordToken, stateOfToken, stateCount: words.length + 2, startState, otherState };
}

/**
 * The exact next-token distribution for each state: bigram counts over the
 * corpus (story start → first word, last "." → </s>). The "other" state uses
 * the unigram distribution of all next tokens.
 */
export function demoNextTokenProbabilities(vocab: DemoVocabulary = demoVocabulary()): Map<number, number>[] {
  const EOS = 2;
  const counts: Map<number, number>[] = Array.from({ length: vocab.stateCount }, () => new Map());
  const unigram = new Map<number, number>();
  const bump = (map: Map<number, number>, token: number): void => {
    map.set(token, (map.get(token) ?? 0) + 1);
  };
  for (const story of storyWords()) {
    let state = vocab.startState;
    for (const word of [...story, null]) {
      const token = word === null ? EOS : vocab.wordToken.get(word)!;
      bump(counts[state]!, token);
      bump(unigram, token);
      if (word !== null) state = vocab.stateOfToken[token]!;
    }
  }
  counts[vocab.otherState] = unigram;
  return counts.map((map) => {
    let total = 0;
    for (const n of map.values()) total += n;
    const probabilities = new Map<number, number>();
    for (const [token, n] of [...map.entries()].sort((a, b) => a[0] - b[0])) probabilities.set(token, n / total);
    return probabilities;
  });
}

const u32 = (value: number): TypedGgufValue => ({ type: GgufValueType.UINT32, value });
const str = (value: string): TypedGgufValue => ({ type: GgufValueType.STRING, value });

/** The complete GGUF document of the demo model (deterministic: same corpus, same bytes). */
export function buildDemoModelDocument(): GgufDocument {
  const vocab = demoVocabulary();
  const probabilities = demoNextTokenProbabilities(vocab);
  // Multiples of 32 so that every weight matrix can be quantized to 32-wide blocks.
  const d = Math.ceil(vocab.stateCount / 32) * 32;
  const nVocab = vocab.tokens.length;
  const scale = 1 / Math.sqrt(1 / d + EPS);

  const tokenEmbedding = new Float32Array(d * nVocab);
  vocab.stateOfToken.forEach((state, token) => (tokenEmbedding[token * d + state] = 1));
  const output = new Float32Array(d * nVocab).fill(IMPOSSIBLE_LOG_PROB / scale);
  probabilities.forEach((next, state) => {
    for (const [token, p] of next) output[token * d + state] = Math.log(p) / scale;
  });

  const metadata = new Map<string, TypedGgufValue>([
    ["general.architecture", str("llama")],
    ["general.name", str("edgelm demo (word bigram)")],
    ["general.description", str("A word-bigram toy language model for offline smoke tests, built by edgelm from its own stories.")],
    ["general.license", str("MIT")],
    ["general.file_type", u32(0)],
    ["general.alignment", u32(32)],
    ...llamaModelMetadata(
      { contextLength: CONTEXT_LENGTH, embedding: d, layers: 1, feedForward: FEED_FORWARD, heads: HEADS, kvHeads: HEADS, rmsEpsilon: EPS, ropeFreqBase: 10000 },
      vocab,
    ),
  ]);

  const F32 = ggmlTypeInfo(GGML_TYPE.F32)!;
  const ones = (n: number): Uint8Array => new Uint8Array(new Float32Array(n).fill(1).buffer);
  const zeros = (n: number): Uint8Array => new Uint8Array(n * 4);
  const bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer);
  return {
    metadata,
    tensors: [
      { name: "token_embd.weight", dims: [d, nVocab], type: F32, data: bytes(tokenEmbedding) },
      { name: "blk.0.attn_norm.weight", dims: [d], type: F32, data: ones(d) },
      { name: "blk.0.attn_q.weight", dims: [d, d], type: F32, data: zeros(d * d) },
      { name: "blk.0.attn_k.weight", dims: [d, d], type: F32, data: zeros(d * d) },
      { name: "blk.0.attn_v.weight", dims: [d, d], type: F32, data: zeros(d * d) },
      { name: "blk.0.attn_output.weight", dims: [d, d], type: F32, data: zeros(d * d) },
      { name: "blk.0.ffn_norm.weight", dims: [d], type: F32, data: ones(d) },
      { name: "blk.0.ffn_gate.weight", dims: [d, FEED_FORWARD], type: F32, data: zeros(d * FEED_FORWARD) },
      { name: "blk.0.ffn_up.weight", dims: [d, FEED_FORWARD], type: F32, data: zeros(d * FEED_FORWARD) },
      { name: "blk.0.ffn_down.weight", dims: [FEED_FORWARD, d], type: F32, data: zeros(d * FEED_FORWARD) },
      { name: "output_norm.weight", dims: [d], type: F32, data: ones(d) },
      { name: "output.weight", dims: [d, nVocab], type: F32, data: bytes(output) },
    ],
  };
}
