/**
 * The built-in catalog: short names for public GGUF files of real edge SLMs,
 * Ollama-style `name:tag`, where the tag picks size and quantization.
 *
 * Every file below was confirmed to exist in its repository; sizes are the
 * publishers' figures (exact bytes where known, else rounded and marked
 * approximate) — the hub's advertised size is what a pull checks.
 */
import type { ModelRef } from "./model-ref.js";

export interface CatalogEntry {
  /** Full name with tag, e.g. "smollm2:360m-q8_0". */
  name: string;
  /** hf: location of the file. */
  owner: string;
  repo: string;
  file: string;
  revision: string;
  /** Download size in bytes (approximate when `sizeApproximate`; the server's size is authoritative). */
  sizeBytes: number;
  sizeApproximate?: boolean;
  quantization: string;
  parameters: string;
  /** The repository asks users to accept a licence on the hub first (pull needs EDGELM_HF_TOKEN). */
  gated?: boolean;
}

const HF_TB = "HuggingFaceTB";

/** Entries; the first entry of each name:size is its default tag, the first of each name the name's default. */
export const CATALOG: readonly CatalogEntry[] = [
  // SmolLM2 (Hugging Face, Apache-2.0). Tiny models lose more to 4-bit: Q8_0 first.
  { name: "smollm2:360m-q8_0", owner: HF_TB, repo: "SmolLM2-360M-Instruct-GGUF", file: "smollm2-360m-instruct-q8_0.gguf", revision: "main", sizeBytes: 386_000_000, sizeApproximate: true, quantization: "Q8_0", parameters: "360M" },
  { name: "smollm2:360m-q4_k_m", owner: "bartowski", repo: "SmolLM2-360M-Instruct-GGUF", file: "SmolLM2-360M-Instruct-Q4_K_M.gguf", revision: "main", sizeBytes: 270_590_880, quantization: "Q4_K_M", parameters: "360M" },
  { name: "smollm2:135m-q8_0", owner: "bartowski", repo: "SmolLM2-135M-Instruct-GGUF", file: "SmolLM2-135M-Instruct-Q8_0.gguf", revision: "main", sizeBytes: 138_000_000, sizeApproximate: true, quantization: "Q8_0", parameters: "135M" },
  { name: "smollm2:135m-q4_k_m", owner: "bartowski", repo: "SmolLM2-135M-Instruct-GGUF", file: "SmolLM2-135M-Instruct-Q4_K_M.gguf", revision: "main", sizeBytes: 105_454_432, quantization: "Q4_K_M", parameters: "135M" },
  { name: "smollm2:1.7b-q4_k_m", owner: "bartowski", repo: "SmolLM2-1.7B-Instruct-GGUF", file: "SmolLM2-1.7B-Instruct-Q4_K_M.gguf", revision: "main", sizeBytes: 1_055_609_824, quantization: "Q4_K_M", parameters: "1.7B" },
  // Qwen2.5 (Alibaba, Apache-2.0).
  { name: "qwen2.5:0.5b-q8_0", owner: "Qwen", repo: "Qwen2.5-0.5B-Instruct-GGUF", file: "qwen2.5-0.5b-instruct-q8_0.gguf", revision: "main", sizeBytes: 530_000_000, sizeApproximate: true, quantization: "Q8_0", parameters: "0.5B" },
  { name: "qwen2.5:0.5b-q4_k_m", owner: "bartowski", repo: "Qwen2.5-0.5B-Instruct-GGUF", file: "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", revision: "main", sizeBytes: 397_808_192, quantization: "Q4_K_M", parameters: "0.5B" },
  { name: "qwen2.5:1.5b-q4_k_m", owner: "bartowski", repo: "Qwen2.5-1.5B-Instruct-GGUF", file: "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf", revision: "main", sizeBytes: 986_048_768, quantization: "Q4_K_M", parameters: "1.5B" },
  // Llama 3.2 (Meta, Llama 3.2 Community License).
  { name: "llama3.2:1b-q4_k_m", owner: "bartowski", repo: "Llama-3.2-1B-Instruct-GGUF", file: "Llama-3.2-1B-Instruct-Q4_K_M.gguf", revision: "main", sizeBytes: 807_694_464, quantization: "Q4_K_M", parameters: "1B" },
  { name: "llama3.2:1b-q8_0", owner: "bartowski", repo: "Llama-3.2-1B-Instruct-GGUF", file: "Llama-3.2-1B-Instruct-Q8_0.gguf", revision: "main", sizeBytes: 1_320_000_000, sizeApproximate: true, quantization: "Q8_0", parameters: "1B" },
  { name: "llama3.2:3b-q4_k_m", owner: "bartowski", repo: "Llama-3.2-3B-Instruct-GGUF", file: "Llama-3.2-3B-Instruct-Q4_K_M.gguf", revision: "main", sizeBytes: 2_019_377_696, quantization: "Q4_K_M", parameters: "3B" },
  // Phi-3.5 mini (Microsoft, MIT).
  { name: "phi3.5:mini-q4_k_m", owner: "bartowski", repo: "Phi-3.5-mini-instruct-GGUF", file: "Phi-3.5-mini-instruct-Q4_K_M.gguf", revision: "main", sizeBytes: 2_300_000_000, sizeApproximate: true, quantization: "Q4_K_M", parameters: "3.8B" },
  // Gemma 2 (Google, Gemma terms: the repository is gated).
  { name: "gemma2:2b-q4_k_m", owner: "bartowski", repo: "gemma-2-2b-it-GGUF", file: "gemma-2-2b-it-Q4_K_M.gguf", revision: "main", sizeBytes: 1_600_000_000, sizeApproximate: true, quantization: "Q4_K_M", parameters: "2.6B", gated: true },
  // TinyLlama (Apache-2.0).
  { name: "tinyllama:1.1b-q4_k_m", owner: "TheBloke", repo: "TinyLlama-1.1B-Chat-v1.0-GGUF", file: "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", revision: "main", sizeBytes: 669_000_000, sizeApproximate: true, quantization: "Q4_K_M", parameters: "1.1B" },
];

/** Aliases: `name`, `name:latest` and `name:size` point at a default full tag. */
function aliases(): Map<string, CatalogEntry> {
  const map = new Map<string, CatalogEntry>();
  for (const entry of CATALOG) {
    map.set(entry.name, entry);
    const [base, tag] = entry.name.split(":") as [string, string];
    const size = tag.split("-")[0]!;
    if (!map.has(`${base}:${size}`)) map.set(`${base}:${size}`, entry);
    if (!map.has(base)) {
      map.set(base, entry);
      map.set(`${base}:latest`, entry);
    }
  }
  return map;
}

export function catalogNames(): string[] {
  return [...aliases().keys()];
}

/** The short names that lead to an entry (e.g. "smollm2", "smollm2:360m" for smollm2:360m-q8_0). */
export function catalogAliasesOf(entry: CatalogEntry): string[] {
  return [...aliases().entries()].filter(([alias, e]) => e === entry && alias !== entry.name && !alias.endsWith(":latest")).map(([alias]) => alias);
}

export function findInCatalog(ref: Extract<ModelRef, { kind: "name" }>): CatalogEntry | undefined {
  return aliases().get(ref.tag ? `${ref.name}:${ref.tag}` : ref.name);
}
