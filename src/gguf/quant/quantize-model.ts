/**
 * Quantizes a GGUF model file to another one, streaming: tensors are read in
 * chunks of rows, converted on worker threads (F32/F16/BF16, or an already
 * quantized type, → F32 → the planned type) and written in order, so memory
 * stays at a few chunks whatever the model's size. The output is written to a
 * temp file and renamed when complete; on any failure (a bad tensor, a full
 * disk, an abort) nothing is left behind.
 */
import { open, stat, type FileHandle } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, dirname, resolve } from "node:path";
import { EdgeError, toEdgeError } from "../../errors.js";
import type { GgmlTypeInfo } from "../ggml-types.js";
import { readGguf, type GgufFile, type GgufTensorInfo } from "../gguf-reader.js";
import { typedMetadata } from "../typed-metadata.js";
import { GgufValueType, metaNumber, type GgufScalar, type TypedGgufValue } from "../gguf-values.js";
import { writeGguf, type GgufTensorSpec } from "../gguf-writer.js";
import { QuantizePool } from "./quantize-pool.js";
import { tensorCodec } from "./tensor-codec.js";
import { planTensorTypes, quantTarget, type PlannedTensor, type QuantTarget, type QuantTargetName } from "./tensor-type-plan.js";

export interface QuantizeOptions {
  /** The target mix, e.g. "q4_0". */
  target: QuantTargetName | QuantTarget;
  /** Type of output.weight (and token_embd when tied). Default: llama.cpp's rule (Q6_K for 4/5-bit targets). */
  outputType?: GgmlTypeInfo;
  /** Worker threads. Default: the CPU count, at most 8. 0 runs on the calling thread. */
  workers?: number;
  signal?: AbortSignal;
  /** Progress in bytes of input tensor data, and the tensor being converted. */
  onProgress?: (done: number, total: number, tensor: string) => void;
  /** Warnings worth showing a user (e.g. requantizing an already quantized model). */
  onWarning?: (message: string) => void;
}

export interface QuantizeFallback {
  tensor: string;
  rowLength: number;
  wanted: string;
  used: string;
}

export interface QuantizeReport {
  input: string;
  output: string;
  /** The mix, e.g. "Q4_K_M". */
  type: string;
  fileType: number;
  inputBytes: number;
  outputBytes: number;
  seconds: number;
  workers: number;
  /** Output tensor count per type. */
  tensorTypes: Record<string, number>;
  fallbacks: QuantizeFallback[];
  /** Source tensors that were already quantized and were converted again. */
  requantized: number;
  warnings: string[];
}

/** Elements converted per chunk (about 2 MB of F32). */
const CHUNK_ELEMENTS = 1 << 19;

const isQuantized = (type: GgmlTypeInfo): boolean => type.blockSize > 1;

export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

/** Reads exactly `length` bytes at `position`, or fails naming the file as truncated. */
async function readExactly(handle: FileHandle, path: string, position: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buffer, got, length - got, position + got);
    if (bytesRead === 0) throw new EdgeError("invalid_gguf", `${path}: truncated: the file ended at byte ${position + got} while reading tensor data`);
    got += bytesRead;
  }
  return buffer;
}

/** Checks the plan against what the input holds; returns the per-tensor plan to execute and warnings. */
function checkPlan(file: GgufFile, path: string, target: QuantTarget, plan: PlannedTensor[]): { plan: PlannedTensor[]; warnings: string[]; requantized: number } {
  const warnings: string[] = [];
  // The input's own precision: its predominant quantized weight type, if any.
  const bytesByType = new Map<GgmlTypeInfo, number>();
  for (const p of plan) if (p.reason !== "kept" && isQuantized(p.from)) bytesByType.set(p.from, (bytesByType.get(p.from) ?? 0) + p.dims.reduce((a, b) => a * b, 1));
  const sourceType = [...bytesByType.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  if (sourceType && target.type.bitsPerWeight > sourceType.bitsPerWeight) {
    throw new EdgeError(
      "unsupported",
      `${path} is already quantized to ${sourceType.name}; converting it to ${target.label} would grow the file without restoring any precision (quantize the F16/F32 original instead)`,
      { param: "type" },
    );
  }
  let requantized = 0;
  const executed = plan.map((p) => {
    if (p.to.id === p.from.id || !isQuantized(p.from)) return p;
    // Never "upgrade" a quantized tensor (e.g. a Q4_0 output matrix to Q6_K): keep it as it is.
    if (p.to.bitsPerWeight > p.from.bitsPerWeight) return { ...p, to: p.from, reason: "kept" as const };
    requantized++;
    return p;
  });
  for (const p of executed) {
    if (p.to.id === p.from.id) continue;
    if (!tensorCodec(p.from.id)) {
      throw new EdgeError("unsupported_model", `${path}: tensor "${p.name}" is ${p.from.name}, which edgelm cannot dequantize (it reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K and Q6_K)`);
    }
  }
  if (requantized > 0) {
    warnings.push(
      `requantizing ${requantized} tensors that are already ${sourceType?.name ?? "quantized"}: errors add up; quantizing the F16/F32 original gives a better ${target.label}`,
    );
  }
  return { plan: executed, warnings, requantized };
}

/**
 * Quantizes `inputPath` into `outputPath` (replaced atomically).
 * Errors: usage (same path), file_not_found (input, or the output's directory),
 * invalid_gguf (malformed/truncated input, NaN/Inf weights), unsupported (to a
 * higher precision than the input has), unsupported_model (tensor types edgelm
 * cannot read), disk_full, aborted.
 */
export async function quantizeModel(inputPath: string, outputPath: string, options: QuantizeOptions): Promise<QuantizeReport> {
  const started = performance.now();
  const target = typeof options.target === "string" ? quantTarget(options.target) : options.target;
  if (resolve(inputPath) === resolve(outputPath)) {
    throw new EdgeError("usage", "the output path is the input path; write the quantized model to a new file", { param: "output" });
  }
  const file = readGguf(inputPath);
  const outputDir = dirname(resolve(outputPath));
  const dirStat = await stat(outputDir).catch(() => undefined);
  if (!dirStat?.isDirectory()) {
    throw new EdgeError("file_not_found", `cannot write ${outputPath}: the directory ${outputDir} does not exist`, { param: "output" });
  }
  if ((metaNumber(file.metadata, "split.count") ?? 1) > 1) {
    throw new EdgeError("unsupported_model", `${inputPath} is one part of a split model; edgelm quantizes single-file models`);
  }
  const planned = planTensorTypes(file.tensors, target, options.outputType ? { outputType: options.outputType } : {});
  const { plan, warnings, requantized } = checkPlan(file, inputPath, target, planned);
  for (const warning of warnings) options.onWarning?.(warning);

  const fallbacks: QuantizeFallback[] = plan
    .filter((p) => p.reason === "fallback")
    .map((p) => ({ tensor: p.name, rowLength: p.dims[0]!, wanted: p.wanted!.name, used: p.to.name }));
  const metadata = typedMetadata(file, inputPath);
  metadata.set("general.file_type", { type: GgufValueType.UINT32, value: target.fileType });
  metadata.set("general.quantization_version", { type: GgufValueType.UINT32, value: 2 });
  metadata.set("general.quantized_by", { type: GgufValueType.STRING, value: "edgelm" });
  const note = [
    `${target.label} by edgelm quantize from ${basename(inputPath)}`,
    requantized > 0 ? `${requantized} tensors requantized from already quantized data` : "",
    fallbacks.length > 0 ? `${fallbacks.length} tensors fell back to a type their rows fit (${[...new Set(fallbacks.map((f) => `${f.wanted}→${f.used}`))].join(", ")})` : "",
  ].filter((s) => s.length > 0).join("; ");
  metadata.set("edgelm.quantization", { type: GgufValueType.STRING, value: note });

  const workers = options.workers ?? defaultWorkerCount();
  const totalBytes = file.tensors.reduce((sum, t) => sum + t.byteSize, 0);
  let doneBytes = 0;
  const handle = await open(inputPath, "r").catch((error: unknown) => {
    throw toEdgeError(error, `cannot open ${inputPath}`);
  });
  const pool = new QuantizePool(workers);
  try {
    const tensors: GgufTensorSpec[] = file.tensors.map((tensor, i) => ({
      name: tensor.name,
      dims: tensor.dims,
      type: plan[i]!.to,
      data: () => convertTensor(tensor, plan[i]!.to),
    }));
    async function* convertTensor(tensor: GgufTensorInfo, to: GgmlTypeInfo): AsyncIterable<Uint8Array> {
      const rowLength = tensor.dims[0]!;
      const rows = tensor.elementCount / rowLength;
      const rowBytes = (rowLength / tensor.type.blockSize) * tensor.type.typeSize;
      const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / rowLength));
      const copy = to.id === tensor.type.id;
      const inFlight: Array<{ result: Promise<Uint8Array>; inputBytes: number }> = [];
      let row = 0;
      try {
        while (row < rows || inFlight.length > 0) {
          while (row < rows && inFlight.length < Math.max(2, workers * 2)) {
            if (options.signal?.aborted) throw new EdgeError("aborted", "quantization was cancelled");
            const count = Math.min(rowsPerChunk, rows - row);
            const firstElement = row * rowLength;
            const bytes = await readExactly(handle, inputPath, tensor.fileOffset + row * rowBytes, count * rowBytes);
            const result = copy
              ? Promise.resolve(bytes)
              : pool.convert(tensor.type.id, to.id, bytes).then((outcome) => {
                  if (outcome.ok) return outcome.bytes;
                  if ("nonFiniteAt" in outcome) {
                    throw new EdgeError(
                      "invalid_gguf",
                      `${inputPath}: tensor "${tensor.name}" holds NaN or Inf at element ${firstElement + outcome.nonFiniteAt}; a model with non-finite weights cannot be quantized`,
                    );
                  }
                  throw new EdgeError("internal", `converting tensor "${tensor.name}": ${outcome.message}`);
                });
            // Failures surface when the chunk's turn comes; never as an unhandled rejection.
            result.catch(() => {});
            inFlight.push({ result, inputBytes: count * rowBytes });
            row += count;
          }
          const next = inFlight.shift()!;
          const out = await next.result;
          doneBytes += next.inputBytes;
          options.onProgress?.(doneBytes, totalBytes, tensor.name);
          yield out;
        }
      } finally {
        for (const pending of inFlight) pending.result.catch(() => {});
      }
    }
    const outputBytes = await writeGguf(outputPath, { metadata, tensors });
    const tensorTypes: Record<string, number> = {};
    for (const p of plan) tensorTypes[p.to.name] = (tensorTypes[p.to.name] ?? 0) + 1;
    return {
      input: inputPath,
      output: outputPath,
      type: target.label,
      fileType: target.fileType,
      inputBytes: file.fileSize,
      outputBytes,
      seconds: (performance.now() - started) / 1000,
      workers,
      tensorTypes,
      fallbacks,
      requantized,
      warnings,
    };
  } finally {
    await pool.close();
    await handle.close().catch(() => {});
  }
}
