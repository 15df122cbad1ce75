/**
 * The facts about a model that edgelm plans with, read from a parsed GGUF:
 * architecture, shape, parameter count, tensor types, chat template.
 */
import type { GgufFile } from "./gguf-reader.js";
import { metaArray, metaNumber, metaString } from "./gguf-values.js";

export interface GgufSummary {
  architecture: string | undefined;
  name: string | undefined;
  parameterCount: number;
  /** Sum of all tensors' data bytes. */
  weightBytes: number;
  /** Tensor count per ggml type name. */
  tensorTypes: Record<string, number>;
  /** The type holding most weight bytes among 2-D tensors, e.g. "Q8_0". */
  predominantType: string;
  contextLength: number | undefined;
  embeddingLength: number | undefined;
  blockCount: number | undefined;
  headCount: number | undefined;
  headCountKv: number | undefined;
  feedForwardLength: number | undefined;
  vocabSize: number | undefined;
  /**
   * UTF-8 bytes of the vocabulary's longest token string: no token stands for more text than that, so a prompt
   * of N bytes is at least N / longestTokenBytes tokens (the gateway's length check before tokenizing).
   */
  longestTokenBytes?: number;
  chatTemplate: string | undefined;
  poolingType: number | undefined;
  fileType: number | undefined;
  /** Fill-in-the-middle token ids (tokenizer.ggml.fim_pre/suf/mid_token_id, or the older prefix/suffix/middle names), when the model has all three. */
  fimTokens: { prefix: number; suffix: number; middle: number } | undefined;
}

export function summarizeGguf(file: GgufFile): GgufSummary {
  const m = file.metadata;
  const arch = metaString(m, "general.architecture");
  const archNumber = (key: string): number | undefined => (arch ? metaNumber(m, `${arch}.${key}`) : undefined);
  const tensorTypes: Record<string, number> = {};
  const bytesByType: Record<string, number> = {};
  let parameterCount = 0;
  let weightBytes = 0;
  for (const tensor of file.tensors) {
    parameterCount += tensor.elementCount;
    weightBytes += tensor.byteSize;
    tensorTypes[tensor.type.name] = (tensorTypes[tensor.type.name] ?? 0) + 1;
    if (tensor.dims.length >= 2) bytesByType[tensor.type.name] = (bytesByType[tensor.type.name] ?? 0) + tensor.byteSize;
  }
  const predominantType =
    Object.entries(bytesByType).sort((a, b) => b[1] - a[1])[0]?.[0] ?? Object.keys(tensorTypes)[0] ?? "unknown";
  const headCountRaw = archNumber("attention.head_count");
  const headCountKvRaw = archNumber("attention.head_count_kv");
  return {
    architecture: arch,
    name: metaString(m, "general.name"),
    parameterCount,
    weightBytes,
    tensorTypes,
    predominantType,
    contextLength: archNumber("context_length"),
    embeddingLength: archNumber("embedding_length"),
    blockCount: archNumber("block_count"),
    headCount: headCountRaw,
    headCountKv: headCountKvRaw ?? headCountRaw,
    feedForwardLength: archNumber("feed_forward_length"),
    vocabSize: metaArray(m, "tokenizer.ggml.tokens")?.length ?? archNumber("vocab_size"),
    ...longestToken(metaArray(m, "tokenizer.ggml.tokens")),
    chatTemplate: metaString(m, "tokenizer.chat_template"),
    poolingType: archNumber("pooling_type"),
    fileType: metaNumber(m, "general.file_type"),
    fimTokens: fimTokensOf(m),
  };
}

function fimTokensOf(m: GgufFile["metadata"]): GgufSummary["fimTokens"] {
  const id = (name: string, older: string): number | undefined =>
    metaNumber(m, `tokenizer.ggml.fim_${name}_token_id`) ?? metaNumber(m, `tokenizer.ggml.${older}_token_id`);
  const prefix = id("pre", "prefix");
  const suffix = id("suf", "suffix");
  const middle = id("mid", "middle");
  return prefix !== undefined && suffix !== undefined && middle !== undefined ? { prefix, suffix, middle } : undefined;
}

function longestToken(tokens: readonly unknown[] | undefined): { longestTokenBytes?: number } {
  if (!tokens || tokens.length === 0) return {};
  let longest = 0;
  for (const token of tokens) {
    if (typeof token !== "string") return {};
    // Byte length is at most 3 per UTF-16 unit; measure exactly only tokens that could beat the longest.
    if (token.length * 3 > longest) longest = Math.max(longest, Buffer.byteLength(token, "utf8"));
  }
  return longest > 0 ? { longestTokenBytes: longest } : {};
}
