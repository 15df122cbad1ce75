/**
 * LoRA adapters in llama.cpp's GGUF format, made from a fine-tuned model and
 * its base (`edgelm lora extract`) and applied back (`edgelm lora merge`).
 *
 * The format (llama.cpp src/llama-adapter.cpp): general.type = "adapter",
 * general.architecture = the base's, adapter.type = "lora",
 * adapter.lora.alpha (F32); per adapted weight W two tensors `<W>.lora_a` and
 * `<W>.lora_b`. For a matrix weight (GGUF dims [in, out], y = W·x) llama.cpp
 * adds scale·B·(A·x) with A dims [in, r] and B dims [r, out]; for the token
 * embedding (dims [embd, vocab], looked up by row) it adds B·A[token] with A
 * dims [r, vocab] and B dims [r, embd]. scale = user scale × alpha / r, where r
 * is B's dims[0]. We write alpha = the requested rank and fold alpha / r into
 * B for tensors whose rank is capped lower, so every delta is applied at 1×.
 *
 * 1-D tensors (norms) cannot be carried by a LoRA adapter: their deltas are
 * reported, not written.
 */
import { open } from "node:fs/promises";
import { EdgeError, toEdgeError } from "../errors.js";
import { GGML_TYPE, ggmlTypeInfo } from "../gguf/ggml-types.js";
import { readGguf, type GgufFile, type GgufTensorInfo } from "../gguf/gguf-reader.js";
import { GgufValueType, type TypedGgufValue } from "../gguf/gguf-values.js";
import { writeGguf, type GgufTensorSpec } from "../gguf/gguf-writer.js";
import { readTensorF32 } from "../gguf/f32-tensors.js";
import { copiedTensor } from "../gguf/tensor-bytes.js";
import { typedMetadata } from "../gguf/typed-metadata.js";
import { sha256File } from "../trust/file-hash.js";
import { lowRankFactors } from "./low-rank.js";

/** Metadata key recording the SHA-256 of the base model file an adapter was extracted against. */
export const ADAPTER_BASE_KEY = "edgelm.adapter.base_sha256";

export interface AdapterTensorReport {
  /** The base weight's name. */
  name: string;
  rows: number;
  cols: number;
  /** Rank written (the requested one, capped at min(rows, cols)). */
  rank: number;
  /** Share (0–1) of the delta's squared Frobenius norm the factors keep. */
  retained: number;
  /** ‖ΔW‖_F / ‖W‖_F. */
  relativeDelta: number;
}

export interface ExtractReport {
  rank: number;
  tensors: AdapterTensorReport[];
  /** Weights that did not change (no factors written). */
  unchanged: string[];
  /** 1-D tensors that changed (an adapter cannot carry them), with ‖Δ‖ / ‖W‖. */
  notRepresentable: Array<{ name: string; relativeDelta: number }>;
  /** Retained share of all written deltas' energy together. */
  retained: number;
  baseSha256: string;
  adapterBytes: number;
  seconds: number;
}

function checkPair(base: GgufFile, tuned: GgufFile, basePath: string, tunedPath: string): void {
  const arch = base.metadata["general.architecture"];
  if (arch !== tuned.metadata["general.architecture"]) {
    throw new EdgeError("unsupported_model", `${tunedPath} is a ${String(tuned.metadata["general.architecture"])} model, ${basePath} a ${String(arch)} one: an adapter needs the same architecture`);
  }
  const names = new Map(tuned.tensors.map((t) => [t.name, t]));
  for (const t of base.tensors) {
    const other = names.get(t.name);
    if (!other || other.dims.join("x") !== t.dims.join("x")) {
      throw new EdgeError(
        "unsupported_model",
        `${tunedPath} is not a fine-tune of ${basePath}: tensor ${t.name} ${other ? `is ${other.dims.join("×")}, not ${t.dims.join("×")}` : "is missing"}`,
      );
    }
  }
  if (names.size !== base.tensors.length) throw new EdgeError("unsupported_model", `${tunedPath} has tensors ${basePath} does not: not a fine-tune of it`);
}

/**
 * Writes the rank-`rank` LoRA adapter taking `basePath` to (approximately) `tunedPath` into `output`.
 * Errors: unsupported_model (different shapes or architectures, a tensor edgelm cannot decode), usage (rank).
 */
export async function extractLora(
  basePath: string,
  tunedPath: string,
  output: string,
  options: { rank: number; onProgress?: (done: number, total: number, tensor: string) => void },
): Promise<ExtractReport> {
  const started = performance.now();
  if (!Number.isInteger(options.rank) || options.rank < 1 || options.rank > 65536) {
    throw new EdgeError("usage", `--rank must be an integer from 1 to 65536 (got ${options.rank})`, { param: "--rank" });
  }
  const base = readGguf(basePath);
  const tuned = readGguf(tunedPath);
  checkPair(base, tuned, basePath, tunedPath);
  const tunedByName = new Map(tuned.tensors.map((t) => [t.name, t]));
  const F32 = ggmlTypeInfo(GGML_TYPE.F32)!;
  const specs: GgufTensorSpec[] = [];
  const report: ExtractReport = { rank: options.rank, tensors: [], unchanged: [], notRepresentable: [], retained: 1, baseSha256: await sha256File(basePath), adapterBytes: 0, seconds: 0 };
  let energy = 0;
  let kept = 0;
  const baseFile = await open(basePath, "r").catch((error: unknown) => {
    throw toEdgeError(error, `cannot open ${basePath}`);
  });
  const tunedFile = await open(tunedPath, "r").catch(async (error: unknown) => {
    await baseFile.close();
    throw toEdgeError(error, `cannot open ${tunedPath}`);
  });
  try {
    for (const [index, t] of base.tensors.entries()) {
      options.onProgress?.(index, base.tensors.length, t.name);
      const w = await readTensorF32(baseFile, t, basePath);
      const w2 = await readTensorF32(tunedFile, tunedByName.get(t.name)!, tunedPath);
      const delta = new Float64Array(w.length);
      let deltaNorm = 0;
      let weightNorm = 0;
      for (let i = 0; i < w.length; i++) {
        const d = w2[i]! - w[i]!;
        delta[i] = d;
        deltaNorm += d * d;
        weightNorm += w[i]! * w[i]!;
      }
      const relativeDelta = weightNorm > 0 ? Math.sqrt(deltaNorm / weightNorm) : Math.sqrt(deltaNorm);
      if (deltaNorm === 0) {
        report.unchanged.push(t.name);
        continue;
      }
      if (t.dims.length !== 2) {
        report.notRepresentable.push({ name: t.name, relativeDelta });
        continue;
      }
      // Row-major M: rows = dims[1], cols = dims[0] (GGUF rows are dims[0] long).
      const cols = t.dims[0]!;
      const rows = t.dims[1]!;
      const rank = Math.min(options.rank, rows, cols);
      const f = lowRankFactors(delta, rows, cols, rank);
      energy += f.energy;
      kept += f.retained * f.energy;
      const fold = rank / options.rank; // undoes llama.cpp's alpha / r for a capped rank
      const left = new Float32Array(rows * rank);
      for (let i = 0; i < left.length; i++) left[i] = f.left[i]! * fold;
      const right = Float32Array.from(f.right);
      let a: { dims: number[]; data: Float32Array };
      let b: { dims: number[]; data: Float32Array };
      if (t.name === "token_embd.weight") {
        // Δ[token] = B·A[token]: A is L (vocab × r), B is Rᵀ (embd × r), both row-major.
        const rt = new Float32Array(cols * rank);
        for (let r = 0; r < rank; r++) for (let c = 0; c < cols; c++) rt[c * rank + r] = right[r * cols + c]!;
        a = { dims: [rank, rows], data: left };
        b = { dims: [rank, cols], data: rt };
      } else {
        // Δ = B·A: A is R (r × in), B is L (out × r).
        a = { dims: [cols, rank], data: right };
        b = { dims: [rank, rows], data: left };
      }
      specs.push({ name: `${t.name}.lora_a`, dims: a.dims, type: F32, data: new Uint8Array(a.data.buffer) });
      specs.push({ name: `${t.name}.lora_b`, dims: b.dims, type: F32, data: new Uint8Array(b.data.buffer) });
      report.tensors.push({ name: t.name, rows, cols, rank, retained: f.retained, relativeDelta });
    }
  } finally {
    await baseFile.close();
    await tunedFile.close();
  }
  if (specs.length === 0) throw new EdgeError("invalid_request", `${tunedPath} has the same weights as ${basePath}: there is no delta to extract`);
  const metadata = new Map<string, TypedGgufValue>([
    ["general.architecture", { type: GgufValueType.STRING, value: String(base.metadata["general.architecture"]) }],
    ["general.type", { type: GgufValueType.STRING, value: "adapter" }],
    ["general.name", { type: GgufValueType.STRING, value: `LoRA rank ${options.rank} extracted by edgelm` }],
    ["adapter.type", { type: GgufValueType.STRING, value: "lora" }],
    ["adapter.lora.alpha", { type: GgufValueType.FLOAT32, value: options.rank }],
    [ADAPTER_BASE_KEY, { type: GgufValueType.STRING, value: report.baseSha256 }],
  ]);
  report.adapterBytes = await writeGguf(output, { metadata, tensors: specs });
  report.retained = energy > 0 ? kept / energy : 1;
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

export interface ReadAdapter {
  file: GgufFile;
  alpha: number;
  baseSha256: string | undefined;
  /** Base weight name → its A and B tensors. */
  pairs: Map<string, { a: GgufTensorInfo; b: GgufTensorInfo }>;
}

/** Reads and checks a LoRA adapter file (general.type, adapter.type, paired tensors with consistent ranks). */
export function readLoraAdapter(path: string): ReadAdapter {
  const file = readGguf(path);
  if (file.metadata["general.type"] !== "adapter" || file.metadata["adapter.type"] !== "lora") {
    throw new EdgeError("invalid_gguf", `${path} is not a LoRA adapter (general.type "${String(file.metadata["general.type"])}", adapter.type "${String(file.metadata["adapter.type"])}")`);
  }
  const alpha = Number(file.metadata["adapter.lora.alpha"] ?? 0);
  const pairs = new Map<string, { a?: GgufTensorInfo; b?: GgufTensorInfo }>();
  for (const t of file.tensors) {
    const m = /^(.*)\.lora_(a|b)$/.exec(t.name);
    if (!m) throw new EdgeError("invalid_gguf", `${path}: tensor ${t.name} is neither a .lora_a nor a .lora_b`);
    const pair = pairs.get(m[1]!) ?? {};
    pair[m[2] as "a" | "b"] = t;
    pairs.set(m[1]!, pair);
  }
  const complete = new Map<string, { a: GgufTensorInfo; b: GgufTensorInfo }>();
  for (const [name, pair] of pairs) {
    if (!pair.a || !pair.b) throw new EdgeError("invalid_gguf", `${path}: ${name} has a lora_${pair.a ? "a" : "b"} but no lora_${pair.a ? "b" : "a"}`);
    if (pair.a.dims.length !== 2 || pair.b.dims.length !== 2) throw new EdgeError("invalid_gguf", `${path}: ${name}'s factors are not matrices`);
    complete.set(name, { a: pair.a, b: pair.b });
  }
  const base = file.metadata[ADAPTER_BASE_KEY];
  return { file, alpha, baseSha256: typeof base === "string" ? base : undefined, pairs: complete };
}

/**
 * Checks that `adapter` was made for the model at `basePath` before anything loads the two together: the same
 * architecture, the base's SHA-256 when the adapter records one (integrity_mismatch otherwise), and factors whose
 * shapes fit the weights they adapt (unsupported_model otherwise). `baseSha256`: the base file's SHA-256 when the
 * caller has verified it already (not hashed again).
 */
export async function checkAdapterForBase(adapter: ReadAdapter, base: GgufFile, basePath: string, adapterPath: string, baseSha256?: string): Promise<void> {
  const arch = base.metadata["general.architecture"];
  if (adapter.file.metadata["general.architecture"] !== arch) {
    throw new EdgeError("unsupported_model", `${adapterPath} is an adapter for ${String(adapter.file.metadata["general.architecture"])} models, ${basePath} is ${String(arch)}`);
  }
  if (adapter.baseSha256 !== undefined) {
    const actual = baseSha256 ?? (await sha256File(basePath));
    if (actual !== adapter.baseSha256) {
      throw new EdgeError("integrity_mismatch", `${adapterPath} was made for a base with SHA-256 ${adapter.baseSha256.slice(0, 16)}…, not ${basePath} (${actual.slice(0, 16)}…)`, {
        details: { expected: adapter.baseSha256, actual },
      });
    }
  }
  const byName = new Map(base.tensors.map((t) => [t.name, t]));
  for (const [name, { a, b }] of adapter.pairs) {
    const t = byName.get(name);
    const embedding = name === "token_embd.weight";
    const fits = t && t.dims.length === 2 && (embedding ? a.dims[1] === t.dims[1] && b.dims[1] === t.dims[0] && a.dims[0] === b.dims[0] : a.dims[0] === t.dims[0] && b.dims[1] === t.dims[1] && a.dims[1] === b.dims[0]);
    if (!fits) throw new EdgeError("unsupported_model", `${adapterPath} does not fit ${basePath}: ${name} ${t ? `is ${t.dims.join("×")}` : "is not in the model"}`);
  }
}

/**
 * Writes `basePath` with the adapter at `adapterPath` applied at `scale` into `output` (adapted weights become F32,
 * the rest is copied as it is). Errors: invalid_gguf (not an adapter), unsupported_model (a factor that does not fit
 * the base's weight: the adapter was made for another model), integrity_mismatch (the adapter records another base).
 */
export async function mergeLora(basePath: string, adapterPath: string, output: string, scale = 1): Promise<{ merged: number; bytes: number }> {
  if (!Number.isFinite(scale)) throw new EdgeError("usage", `--scale must be a number (got ${scale})`, { param: "--scale" });
  const adapter = readLoraAdapter(adapterPath);
  const base = readGguf(basePath);
  await checkAdapterForBase(adapter, base, basePath, adapterPath);
  const F32 = ggmlTypeInfo(GGML_TYPE.F32)!;
  const baseFile = await open(basePath, "r");
  const adapterFile = await open(adapterPath, "r");
  try {
    const tensors: GgufTensorSpec[] = base.tensors.map((t) => {
      const pair = adapter.pairs.get(t.name);
      if (!pair) return copiedTensor(baseFile, t, basePath);
      return {
        name: t.name,
        dims: t.dims,
        type: F32,
        data: async function* () {
          const w = Float32Array.from(await readTensorF32(baseFile, t, basePath));
          const a = await readTensorF32(adapterFile, pair.a, adapterPath);
          const b = await readTensorF32(adapterFile, pair.b, adapterPath);
          const rank = pair.b.dims[0]!;
          const s = scale * (adapter.alpha !== 0 ? adapter.alpha / rank : 1);
          const cols = t.dims[0]!;
          const rows = t.dims[1]!;
          if (t.name === "token_embd.weight") {
            // W[token][c] += s · Σ_r B[c][r] · A[token][r]
            for (let i = 0; i < rows; i++) {
              for (let c = 0; c < cols; c++) {
                let v = 0;
                for (let r = 0; r < rank; r++) v += b[c * rank + r]! * a[i * rank + r]!;
                w[i * cols + c]! += s * v;
              }
            }
          } else {
            // W[out][in] += s · Σ_r B[out][r] · A[r][in]
            for (let i = 0; i < rows; i++) {
              for (let r = 0; r < rank; r++) {
                const br = s * b[i * rank + r]!;
                if (br === 0) continue;
                for (let c = 0; c < cols; c++) w[i * cols + c]! += br * a[r * cols + c]!;
              }
            }
          }
          yield new Uint8Array(w.buffer);
        },
      };
    });
    const bytes = await writeGguf(output, { metadata: typedMetadata(base, basePath), tensors });
    return { merged: adapter.pairs.size, bytes };
  } finally {
    await baseFile.close();
    await adapterFile.close();
  }
}

/** `path[:scale]` (a `--lora` value): the scale is the part after the last colon when it is a number; default 1. */
export function parseAdapterFlag(text: string): { path: string; scale: number } {
  const m = /^(.*):(-?\d+(?:\.\d+)?(?:e-?\d+)?)$/i.exec(text);
  const path = m ? m[1]! : text;
  const scale = m ? Number(m[2]) : 1;
  if (path.length === 0) throw new EdgeError("usage", `--lora ${text}: give an adapter file, optionally with :scale`, { param: "--lora" });
  if (!Number.isFinite(scale) || Math.abs(scale) > 100) throw new EdgeError("usage", `--lora ${text}: the scale must be a number from -100 to 100`, { param: "--lora" });
  return { path, scale };
}

/** Checks every adapter against the model at `basePath` (checkAdapterForBase) before they are loaded together. */
export async function checkAdaptersForBase(basePath: string, adapters: ReadonlyArray<{ path: string }>): Promise<void> {
  if (adapters.length === 0) return;
  const base = readGguf(basePath);
  for (const adapter of adapters) await checkAdapterForBase(readLoraAdapter(adapter.path), base, basePath, adapter.path);
}
