/**
 * Test fixture: a "fine-tuned" stories260K without a trainer — the base with a seeded, low-rank change added to its
 * attention output and FFN down matrices (F32), so an adapter extracted at that rank reproduces it exactly and its
 * greedy answers differ from the base's.
 */
import { open } from "node:fs/promises";
import { readTensorF32 } from "../../src/gguf/f32-tensors.js";
import { readTensorBytes } from "../../src/gguf/tensor-bytes.js";
import { GGML_TYPE, ggmlTypeInfo } from "../../src/gguf/ggml-types.js";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { writeGguf } from "../../src/gguf/gguf-writer.js";
import { typedMetadata } from "../../src/gguf/typed-metadata.js";
import { seededRandom } from "../../bench/fuzz/gguf-mutator.js";

/** Writes `basePath` with a rank-2 change of relative size `strength` on every attn_output and ffn_down matrix. */
export async function perturbedModel(basePath: string, output: string, seed = 1, strength = 0.5): Promise<void> {
  const base = readGguf(basePath);
  const uniform = seededRandom(seed);
  const next = (): number => uniform() * 2 - 1;
  const file = await open(basePath, "r");
  const F32 = ggmlTypeInfo(GGML_TYPE.F32)!;
  try {
    await writeGguf(output, {
      metadata: typedMetadata(base, basePath),
      tensors: base.tensors.map((t) => {
        const changed = t.dims.length === 2 && /attn_output|ffn_down/.test(t.name);
        return {
          name: t.name,
          dims: t.dims,
          type: changed ? F32 : t.type,
          data: async function* () {
            if (!changed) {
              yield await readTensorBytes(file, t, basePath);
              return;
            }
            const w = Float32Array.from(await readTensorF32(file, t, basePath));
            const cols = t.dims[0]!;
            const rows = t.dims[1]!;
            let norm = 0;
            for (const v of w) norm += v * v;
            const scale = (strength * Math.sqrt(norm / w.length)) / 2;
            for (let r = 0; r < 2; r++) {
              const u = Array.from({ length: rows }, next);
              const v = Array.from({ length: cols }, next);
              for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) w[i * cols + c]! += scale * u[i]! * v[c]! * 2;
            }
            yield new Uint8Array(w.buffer);
          },
        };
      }),
    });
  } finally {
    await file.close();
  }
}
