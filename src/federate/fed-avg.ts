/**
 * Federated averaging weighted by token counts: new = base + Σᵢ (nᵢ / Σn) · Δᵢ. Updates are folded into one float64
 * sum as they arrive (Σ nᵢ·Δᵢ and Σ nᵢ), so the coordinator holds the base and one sum, never every delta.
 */
import { GGML_TYPE, ggmlTypeInfo, LLAMA_FILE_TYPE } from "../gguf/ggml-types.js";
import type { GgufFile } from "../gguf/gguf-reader.js";
import { GgufValueType } from "../gguf/gguf-values.js";
import { writeGguf } from "../gguf/gguf-writer.js";
import { typedMetadata } from "../gguf/typed-metadata.js";
import type { F32Tensor } from "./model-delta.js";

export class FedAvg {
  private readonly sums: Float64Array[];
  private totalWeight = 0;
  private count = 0;

  /** `base`: the round's base tensors as F32 (the deltas' shapes). */
  constructor(private readonly base: readonly F32Tensor[]) {
    this.sums = base.map((t) => new Float64Array(t.values.length));
  }

  /** Updates folded in so far. */
  get updates(): number {
    return this.count;
  }

  /** Adds `weight` (the update's tokens) × the delta, given as every tensor's values back to back in base order. */
  add(delta: Float32Array, weight: number): void {
    let offset = 0;
    for (const sum of this.sums) {
      for (let j = 0; j < sum.length; j++) sum[j]! += weight * delta[offset + j]!;
      offset += sum.length;
    }
    this.totalWeight += weight;
    this.count++;
  }

  /** base + Σ nᵢΔᵢ / Σ nᵢ, per tensor (F32). */
  averaged(): F32Tensor[] {
    return this.base.map((t, i) => {
      const sum = this.sums[i]!;
      const values = new Float32Array(t.values.length);
      for (let j = 0; j < values.length; j++) values[j] = t.values[j]! + sum[j]! / this.totalWeight;
      return { name: t.name, dims: t.dims, values };
    });
  }

  /** Writes the averaged model as an all-F32 GGUF with the base's metadata (`file`, read from `basePath`). Returns its bytes. */
  async write(output: string, file: GgufFile, basePath: string): Promise<number> {
    const metadata = typedMetadata(file, basePath);
    if (metadata.has("general.file_type")) metadata.set("general.file_type", { type: GgufValueType.UINT32, value: LLAMA_FILE_TYPE.ALL_F32! });
    const F32 = ggmlTypeInfo(GGML_TYPE.F32)!;
    const tensors = this.averaged().map((t) => ({ name: t.name, dims: t.dims, type: F32, data: new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength) }));
    return writeGguf(output, { metadata, tensors });
  }
}
