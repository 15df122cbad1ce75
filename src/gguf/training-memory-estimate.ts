/**
 * What full fine-tuning of a model needs in memory, before any of it starts:
 * the fit planner's estimate for training (memory-estimate.ts is serving's).
 * llama.cpp's training API (ggml-opt) holds, all in F32:
 * - the weights, loaded without mmap so they are writable;
 * - gradients twice: the gradient accumulators (ggml-opt keeps one per
 *   parameter, llama.cpp's graphs are not static) and the gradients the
 *   backward graph computes each batch;
 * - AdamW's two moment tensors per parameter (none for SGD);
 * - activations: every forward tensor of one batch is kept for the backward
 *   pass, and the backward pass makes a gradient for each (so twice), plus
 *   the F32 KV cache of the training context.
 */
import type { GgufFile } from "./gguf-reader.js";
import type { GgufSummary } from "./gguf-summary.js";
import { modelShape } from "./memory-estimate.js";

export type TrainingOptimizer = "adamw" | "sgd";

export interface TrainingMemoryEstimate {
  contextSize: number;
  optimizer: TrainingOptimizer;
  /** Trainable parameters (every tensor element). */
  parameters: number;
  weightsBytes: number;
  gradientsBytes: number;
  optimizerStateBytes: number;
  activationsBytes: number;
  /** The trainer process itself (program, ggml graph metadata, tokenized data). */
  processBytes: number;
  totalBytes: number;
}

/**
 * The trainer's own footprint besides tensors: llama-finetune on stories260K (2 vCPUs, contexts of 64) peaked at
 * 24.3 MiB resident, of which the tensor terms below account for 12.1 MiB; 14 MiB leaves a little headroom.
 */
export const TRAINER_PROCESS_BYTES = 14 * 1024 * 1024;

/** F32 elements one layer keeps per token of the batch, times the model's widths (see activationsBytes). */
function perTokenLayerFloats(embd: number, ff: number, kvEmbd: number): number {
  // Norm in/out, Q, attention output, projection, residual ×2, FFN norm: ~8 × embd; K and V: 2 × kvEmbd;
  // gate, up, their product and the activation: 4 × ff.
  return 8 * embd + 2 * kvEmbd + 4 * ff;
}

/**
 * Estimates the memory of fine-tuning `file` with contexts of `contextSize` tokens, one context per batch
 * (what `edgelm finetune` runs). Weights count as F32 whatever the file holds (training works in F32).
 */
export function estimateTrainingMemory(file: GgufFile, summary: GgufSummary, contextSize: number, optimizer: TrainingOptimizer = "adamw"): TrainingMemoryEstimate {
  const { layers, embd, heads, headsKv, keyLength, valueLength, ff, vocab } = modelShape(file, summary);
  const parameters = file.tensors.reduce((sum, t) => sum + t.elementCount, 0);
  const weightsBytes = 4 * parameters;
  const gradientsBytes = 2 * weightsBytes;
  const optimizerStateBytes = optimizer === "adamw" ? 2 * weightsBytes : 0;
  const kvEmbd = headsKv * Math.max(keyLength, valueLength);
  const n = contextSize;
  // Per layer: the widths above per token, plus the attention scores and their softmax (heads × n × n each).
  const layerFloats = n * perTokenLayerFloats(embd, ff, kvEmbd) + 2 * heads * n * n;
  // Output: final norm, logits, their softmax and the cross-entropy's copy.
  const outputFloats = n * (2 * embd + 3 * vocab);
  const forwardFloats = layers * layerFloats + outputFloats;
  const kvCacheBytes = 4 * layers * n * headsKv * (keyLength + valueLength);
  const activationsBytes = 2 * 4 * forwardFloats + kvCacheBytes;
  const processBytes = TRAINER_PROCESS_BYTES;
  return {
    contextSize,
    optimizer,
    parameters,
    weightsBytes,
    gradientsBytes,
    optimizerStateBytes,
    activationsBytes,
    processBytes,
    totalBytes: weightsBytes + gradientsBytes + optimizerStateBytes + activationsBytes + processBytes,
  };
}
