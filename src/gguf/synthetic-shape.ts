/**
 * Llama-architecture shapes for synthetic models: the dimensions of real,
 * public models (from their published config.json), or custom parameters.
 * Speed and memory depend on the shape and the weight type, not on the
 * weights' values, so a random-weight model of the right shape answers
 * "how fast would a 7B Q4_0 run on this board?" without downloading one.
 */
import { EdgeError } from "../errors.js";

export interface SyntheticShape {
  /** Short name, e.g. "360m" or "custom". */
  name: string;
  /** The public model whose dimensions these are, when there is one. */
  basedOn?: string;
  embedding: number;
  layers: number;
  heads: number;
  kvHeads: number;
  feedForward: number;
  vocab: number;
  contextLength: number;
  ropeFreqBase: number;
  rmsEpsilon: number;
  /** Tied embeddings: no output.weight, llama.cpp reuses token_embd. */
  tiedEmbeddings: boolean;
}

/** Named shapes. Aliases map to the same entry. */
export const SYNTHETIC_SHAPES: Record<string, SyntheticShape> = {
  "135m": {
    name: "135m",
    basedOn: "SmolLM2-135M",
    embedding: 576,
    layers: 30,
    heads: 9,
    kvHeads: 3,
    feedForward: 1536,
    vocab: 49152,
    contextLength: 8192,
    ropeFreqBase: 100000,
    rmsEpsilon: 1e-5,
    tiedEmbeddings: true,
  },
  "360m": {
    name: "360m",
    basedOn: "SmolLM2-360M",
    embedding: 960,
    layers: 32,
    heads: 15,
    kvHeads: 5,
    feedForward: 2560,
    vocab: 49152,
    contextLength: 8192,
    ropeFreqBase: 100000,
    rmsEpsilon: 1e-5,
    tiedEmbeddings: true,
  },
  "1.1b": {
    name: "1.1b",
    basedOn: "TinyLlama-1.1B",
    embedding: 2048,
    layers: 22,
    heads: 32,
    kvHeads: 4,
    feedForward: 5632,
    vocab: 32000,
    contextLength: 2048,
    ropeFreqBase: 10000,
    rmsEpsilon: 1e-5,
    tiedEmbeddings: false,
  },
  "3b": {
    name: "3b",
    basedOn: "Llama-3.2-3B",
    embedding: 3072,
    layers: 28,
    heads: 24,
    kvHeads: 8,
    feedForward: 8192,
    vocab: 128256,
    // The real model declares 131072 with llama3 RoPE scaling; 8192 keeps default contexts sane.
    contextLength: 8192,
    ropeFreqBase: 500000,
    rmsEpsilon: 1e-5,
    tiedEmbeddings: true,
  },
  "7b": {
    name: "7b",
    basedOn: "Mistral-7B-v0.1",
    embedding: 4096,
    layers: 32,
    heads: 32,
    kvHeads: 8,
    feedForward: 14336,
    vocab: 32000,
    contextLength: 32768,
    ropeFreqBase: 10000,
    rmsEpsilon: 1e-5,
    tiedEmbeddings: false,
  },
};

const ALIASES: Record<string, string> = {
  "smollm2-135m": "135m",
  "smollm2-360m": "360m",
  "tinyllama-1.1b": "1.1b",
  tinyllama: "1.1b",
  "llama3.2-3b": "3b",
  "llama-3.2-3b": "3b",
  "mistral-7b": "7b",
};

/** Smallest vocabulary: <unk>, <s>, </s> and the 256 byte tokens. */
export const MIN_SYNTHETIC_VOCAB = 259;

type NumericKey = "embedding" | "layers" | "heads" | "kvHeads" | "feedForward" | "vocab" | "contextLength" | "ropeFreqBase" | "rmsEpsilon";

/** Parameter names accepted in a shape string, with their limits. */
const PARAMS: Record<string, { key: NumericKey; min: number; max: number; integer: boolean }> = {
  embd: { key: "embedding", min: 2, max: 65536, integer: true },
  layers: { key: "layers", min: 1, max: 512, integer: true },
  heads: { key: "heads", min: 1, max: 1024, integer: true },
  kv: { key: "kvHeads", min: 1, max: 1024, integer: true },
  ffn: { key: "feedForward", min: 1, max: 262144, integer: true },
  vocab: { key: "vocab", min: MIN_SYNTHETIC_VOCAB, max: 1 << 20, integer: true },
  ctx: { key: "contextLength", min: 16, max: 1 << 20, integer: true },
  rope: { key: "ropeFreqBase", min: 1, max: 1e9, integer: false },
  eps: { key: "rmsEpsilon", min: 1e-12, max: 1, integer: false },
};

const CUSTOM_BASE: SyntheticShape = {
  name: "custom",
  embedding: 256,
  layers: 2,
  heads: 4,
  kvHeads: 4,
  feedForward: 768,
  vocab: 512,
  contextLength: 2048,
  ropeFreqBase: 10000,
  rmsEpsilon: 1e-5,
  tiedEmbeddings: false,
};

function usage(message: string): EdgeError {
  return new EdgeError("usage", `--shape: ${message}`, { param: "shape" });
}

/**
 * Parses a shape: a name (`135m`, `360m`, `1.1b`, `3b`, `7b`, or an alias such
 * as `tinyllama-1.1b`), or comma-separated parameters `embd=,layers=,heads=,kv=,ffn=,vocab=,ctx=,rope=,eps=,tied`
 * (unset ones take small defaults), or a name followed by overrides (`360m,layers=2`).
 */
export function parseSyntheticShape(text: string): SyntheticShape {
  const parts = text.split(",").map((p) => p.trim()).filter((p) => p.length > 0);
  if (parts.length === 0) throw usage("give a shape name or parameters");
  let shape: SyntheticShape = { ...CUSTOM_BASE };
  const first = parts[0]!.toLowerCase();
  if (!first.includes("=") && first !== "tied" && first !== "untied") {
    const named = SYNTHETIC_SHAPES[ALIASES[first] ?? first];
    if (!named) {
      throw usage(`unknown shape "${parts[0]}" (known: ${Object.keys(SYNTHETIC_SHAPES).join(", ")}; or parameters like embd=512,layers=4,heads=8,kv=8,ffn=1408,vocab=32000)`);
    }
    shape = { ...named };
    parts.shift();
  }
  let custom = false;
  for (const part of parts) {
    const lower = part.toLowerCase();
    if (lower === "tied" || lower === "untied") {
      shape.tiedEmbeddings = lower === "tied";
      custom = true;
      continue;
    }
    const at = part.indexOf("=");
    const key = (at === -1 ? part : part.slice(0, at)).trim().toLowerCase();
    const param = PARAMS[key];
    if (!param) throw usage(`unknown parameter "${key}" (known: ${Object.keys(PARAMS).join(", ")}, tied)`);
    const raw = at === -1 ? "" : part.slice(at + 1).trim();
    const value = Number(raw);
    if (raw === "" || !Number.isFinite(value) || (param.integer && !Number.isInteger(value))) {
      throw usage(`${key} must be ${param.integer ? "an integer" : "a number"} (got "${raw}")`);
    }
    if (value < param.min || value > param.max) throw usage(`${key} must be between ${param.min} and ${param.max} (got ${raw})`);
    shape[param.key] = value;
    custom = true;
  }
  if (custom) {
    shape.name = shape.basedOn ? `${shape.name}-custom` : "custom";
  }
  if (shape.embedding % shape.heads !== 0) throw usage(`embd ${shape.embedding} is not a multiple of heads ${shape.heads}`);
  if (shape.heads % shape.kvHeads !== 0) throw usage(`heads ${shape.heads} is not a multiple of kv ${shape.kvHeads}`);
  if ((shape.embedding / shape.heads) % 2 !== 0) throw usage(`the head size embd/heads = ${shape.embedding / shape.heads} must be even (RoPE rotates pairs)`);
  return shape;
}

/** Parameter count of a shape (weights only). */
export function syntheticParameterCount(shape: SyntheticShape): number {
  const headDim = shape.embedding / shape.heads;
  const kvDim = headDim * shape.kvHeads;
  const perLayer =
    2 * shape.embedding + // norms
    2 * shape.embedding * shape.embedding + // q, output
    2 * shape.embedding * kvDim + // k, v
    3 * shape.embedding * shape.feedForward;
  const embeddings = shape.vocab * shape.embedding * (shape.tiedEmbeddings ? 1 : 2);
  return shape.layers * perLayer + embeddings + shape.embedding;
}
