/**
 * A model's weight delta (tuned − base, per tensor, as F32), its global L2 norm, clipping to a bound and the
 * Gaussian noise of differential privacy. What a federated participant computes and the coordinator averages.
 */
import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import { EdgeError, toEdgeError } from "../errors.js";
import { readTensorF32 } from "../gguf/f32-tensors.js";
import { readGguf, type GgufFile } from "../gguf/gguf-reader.js";

/** One tensor's values (F32), in GGUF order: dims[0] is the row length. */
export interface F32Tensor {
  name: string;
  dims: number[];
  values: Float32Array;
}

/** Reads every tensor of the GGUF at `path` (parsed as `file`) widened to F32. */
export async function readF32Tensors(path: string, file: GgufFile = readGguf(path)): Promise<F32Tensor[]> {
  const handle = await open(path, "r").catch((error: unknown) => {
    throw toEdgeError(error, `cannot open ${path}`);
  });
  try {
    const out: F32Tensor[] = [];
    // A copy: readTensorF32 may return a view of a buffer it reuses.
    for (const t of file.tensors) out.push({ name: t.name, dims: [...t.dims], values: Float32Array.from(await readTensorF32(handle, t, path)) });
    return out;
  } finally {
    await handle.close();
  }
}

/**
 * tuned − base for every tensor, in the base's order (the trainer may write tensors in another order); both models
 * must hold the same tensor names with the same shapes.
 */
export async function computeDelta(basePath: string, tunedPath: string): Promise<F32Tensor[]> {
  const base = await readF32Tensors(basePath);
  const tuned = new Map((await readF32Tensors(tunedPath)).map((t) => [t.name, t]));
  if (base.length !== tuned.size) throw new EdgeError("unsupported_model", `${tunedPath} has ${tuned.size} tensors, its base ${base.length}`);
  return base.map((b) => {
    const t = tuned.get(b.name);
    if (!t || t.dims.join("x") !== b.dims.join("x")) {
      throw new EdgeError("unsupported_model", `${tunedPath}: tensor ${b.name} is ${t ? `[${t.dims.join(", ")}]` : "missing"}, its base's [${b.dims.join(", ")}]`);
    }
    const values = new Float32Array(b.values.length);
    for (let j = 0; j < values.length; j++) values[j] = t.values[j]! - b.values[j]!;
    return { name: b.name, dims: b.dims, values };
  });
}

/** The global L2 norm over every value of every tensor (accumulated in float64). NaN when a value is not finite. */
export function deltaNorm(tensors: readonly F32Tensor[]): number {
  let sum = 0;
  for (const t of tensors) for (let j = 0; j < t.values.length; j++) sum += t.values[j]! * t.values[j]!;
  return Math.sqrt(sum);
}

/**
 * Scales the delta in place so its global L2 norm is at most `bound` (a delta already within it is unchanged).
 * Returns the norm before and after.
 */
export function clipDelta(tensors: readonly F32Tensor[], bound: number): { norm: number; clippedNorm: number } {
  const norm = deltaNorm(tensors);
  if (!Number.isFinite(norm)) throw new EdgeError("unsupported_model", "the weight delta holds values that are not finite numbers");
  if (norm <= bound || norm === 0) return { norm, clippedNorm: norm };
  // A hair under the bound so float32 rounding cannot put it over.
  const scale = (bound / norm) * (1 - 1e-6);
  for (const t of tensors) for (let j = 0; j < t.values.length; j++) t.values[j]! *= scale;
  return { norm, clippedNorm: deltaNorm(tensors) };
}

/** Standard normal samples from the operating system's CSPRNG (Box–Muller over 32-bit uniforms). */
export function gaussianSamples(count: number): Float64Array {
  const out = new Float64Array(count);
  const chunk = 1 << 14;
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    const pairs = Math.ceil(n / 2);
    const bytes = randomBytes(pairs * 8);
    for (let p = 0; p < pairs; p++) {
      // (x + 1) / (2^32 + 1): in (0, 1), never 0, so the log is finite.
      const u1 = (bytes.readUInt32LE(p * 8) + 1) / 4294967297;
      const u2 = (bytes.readUInt32LE(p * 8 + 4) + 1) / 4294967297;
      const r = Math.sqrt(-2 * Math.log(u1));
      const i = start + p * 2;
      out[i] = r * Math.cos(2 * Math.PI * u2);
      if (p * 2 + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
    }
  }
  return out;
}

/** Adds independent N(0, sigma²) noise to every value, in place (sigma 0: nothing). */
export function addGaussianNoise(tensors: readonly F32Tensor[], sigma: number): void {
  if (!(sigma > 0)) return;
  for (const t of tensors) {
    const noise = gaussianSamples(t.values.length);
    for (let j = 0; j < t.values.length; j++) t.values[j]! += sigma * noise[j]!;
  }
}

/** Values in every tensor together. */
export function valueCount(tensors: ReadonlyArray<{ dims: readonly number[] }>): number {
  return tensors.reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1), 0);
}
