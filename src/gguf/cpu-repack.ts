/**
 * Which weights llama.cpp's CPU backend keeps a second, interleaved copy of
 * ("CPU_REPACK" buffers, ggml/src/ggml-cpu/repack.cpp in the llama.cpp that
 * node-llama-cpp 3.21.1 ships, which both engines are built from): on a CPU
 * with the right instructions, matrix weights of some types are rewritten at
 * load into anonymous memory, while the mapped file pages they came from stay
 * resident too (until the kernel reclaims them). Measured on a 2 vCPU AVX-512
 * machine: a 135M Q4_0 model's runner holds the 57 MB of Q4_0 matrices twice.
 */
import { readFileSync } from "node:fs";
import { arch } from "node:os";
import type { GgufFile } from "./gguf-reader.js";

/** The CPU features the repack choice depends on. */
export interface CpuFeatures {
  /** Node's `process.arch` name: x64, arm64, ... */
  arch: string;
  avx2: boolean;
  avx512: boolean;
  /** Arm: the dot-product (asimddp) and int8 matrix-multiply (i8mm) extensions. */
  dotprod: boolean;
  i8mm: boolean;
}

/** This machine's features from /proc/cpuinfo (none found: no repacking assumed). */
export function readCpuFeatures(procRoot = "/proc", cpuArch: string = arch()): CpuFeatures {
  let flags = new Set<string>();
  try {
    const text = readFileSync(`${procRoot}/cpuinfo`, "utf8");
    const line = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(text)?.[1] ?? "";
    flags = new Set(line.split(/\s+/));
  } catch {
    // not Linux
  }
  return { arch: cpuArch, avx2: flags.has("avx2"), avx512: flags.has("avx512f"), dotprod: flags.has("asimddp"), i8mm: flags.has("i8mm") };
}

/**
 * The row multiple a weight type must have to be repacked on this CPU, or
 * undefined when that type is never repacked here (repack.cpp's
 * ggml_repack_get_optimal_repack_type, x86 and Arm branches).
 */
export function repackRowMultiple(type: string, cpu: CpuFeatures): number | undefined {
  if (cpu.arch === "x64") {
    if (cpu.avx2 && ["Q4_0", "Q4_K", "IQ4_NL", "MXFP4"].includes(type)) return 8;
    if (cpu.avx512 && type === "Q2_K") return 8;
    return undefined;
  }
  if (cpu.arch === "arm64") {
    if (cpu.i8mm && ["Q4_0", "Q8_0"].includes(type)) return 4;
    if ((cpu.i8mm || cpu.dotprod) && ["Q4_K", "Q5_K", "Q6_K"].includes(type)) return 8;
    if (cpu.dotprod && ["Q4_0", "Q8_0", "IQ4_NL", "MXFP4"].includes(type)) return 4;
  }
  return undefined;
}

/**
 * Bytes of the model's weights that get a repacked copy on this CPU: matrices
 * (not the token embedding, which is read by row lookup) of a repacked type
 * whose row count is a multiple of the kernel's.
 */
export function repackedWeightBytes(file: GgufFile, cpu: CpuFeatures): number {
  let bytes = 0;
  for (const tensor of file.tensors) {
    if (tensor.dims.length < 2 || tensor.name === "token_embd.weight") continue;
    const multiple = repackRowMultiple(tensor.type.name, cpu);
    if (multiple !== undefined && tensor.dims[1]! % multiple === 0) bytes += tensor.byteSize;
  }
  return bytes;
}
