/**
 * The metadata entries every llama-architecture GGUF needs: hyperparameters
 * and a SentencePiece ("llama") vocabulary, in the order edgelm writes them.
 * Shared by the models edgelm builds (the demo model, synthetic models).
 */
import { GgufValueType, type TypedGgufValue } from "./gguf-values.js";

export interface LlamaHyperparameters {
  contextLength: number;
  embedding: number;
  layers: number;
  feedForward: number;
  heads: number;
  kvHeads: number;
  rmsEpsilon: number;
  ropeFreqBase: number;
}

export interface SpmVocabulary {
  tokens: string[];
  scores: number[];
  /** SentencePiece token types (1 normal, 2 unknown, 3 control, 6 byte). */
  types: number[];
}

const u32 = (value: number): TypedGgufValue => ({ type: GgufValueType.UINT32, value });
const f32 = (value: number): TypedGgufValue => ({ type: GgufValueType.FLOAT32, value });

/**
 * `llama.*` and `tokenizer.ggml.*` entries; ids 0, 1, 2 are <unk>, <s>, </s>,
 * BOS is added to prompts, EOS is not.
 */
export function llamaModelMetadata(hp: LlamaHyperparameters, vocab: SpmVocabulary): Array<[string, TypedGgufValue]> {
  return [
    ["llama.context_length", u32(hp.contextLength)],
    ["llama.embedding_length", u32(hp.embedding)],
    ["llama.block_count", u32(hp.layers)],
    ["llama.feed_forward_length", u32(hp.feedForward)],
    ["llama.attention.head_count", u32(hp.heads)],
    ["llama.attention.head_count_kv", u32(hp.kvHeads)],
    ["llama.attention.layer_norm_rms_epsilon", f32(hp.rmsEpsilon)],
    ["llama.rope.dimension_count", u32(hp.embedding / hp.heads)],
    ["llama.rope.freq_base", f32(hp.ropeFreqBase)],
    ["llama.vocab_size", u32(vocab.tokens.length)],
    ["tokenizer.ggml.model", { type: GgufValueType.STRING, value: "llama" }],
    ["tokenizer.ggml.tokens", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: vocab.tokens }],
    ["tokenizer.ggml.scores", { type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, value: vocab.scores }],
    ["tokenizer.ggml.token_type", { type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value: vocab.types }],
    ["tokenizer.ggml.unknown_token_id", u32(0)],
    ["tokenizer.ggml.bos_token_id", u32(1)],
    ["tokenizer.ggml.eos_token_id", u32(2)],
    ["tokenizer.ggml.add_bos_token", { type: GgufValueType.BOOL, value: true }],
    ["tokenizer.ggml.add_eos_token", { type: GgufValueType.BOOL, value: false }],
  ];
}
