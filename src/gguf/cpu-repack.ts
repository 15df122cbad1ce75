/**
 * Which weights llama.cpp's CPU backend keeps a second, interleaved copy of
 * ("CPU_REPACK" buffers, ggml/src/ggml-cpu/repack.cpp in the llama.cpp that
 * node-llama-cpp 3.21.1 ships, which both engines are built from): on a CPU
 * with the right instructions, matrix weights of some types are rewritten at
 * load into anonymous memory, while the mapped file pages they came from stay
 * resident too (until the kernel reclaims them). Measured on a 2 vCPU AVX-512
 * machine: a 135M Q4_0 model's runner holds the 57 MB of Q4_0 matrices twice.
 *
 * An engine built with AMX (GGML_AMX_INT8, e.g. node-llama-cpp's prebuilt
 * Sapphire Rapids variant) on a CPU whose kernel grants the tile state puts
 * matrices of more types into its AMX buffer first (ggml-cpu/amx): measured on
 * such a machine, a 360M Q8_0 runner holds its 367 MB of Q8_0 matrices twice.
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
  /** x86 AMX INT8 tiles, in the engine and granted by the kernel (the engine's ggml has an AMX buffer). */
  amx: boolean;
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
  return {
    arch: cpuArch,
    avx2: flags.has("avx2"),
    avx512: flags.has("avx512f"),
    dotprod: flags.has("asimddp"),
    i8mm: flags.has("i8mm"),
    amx: flags.has("amx_int8") && flags.has("amx_tile") && flags.has("avx512_vnni"),
  };
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

/** The row-length multiple ggml's AMX kernels need for a weight type, or undefined when it has none (amx.cpp supports_op). */
export function amxRowLengthMultiple(type: string): number | undefined {
  if (["Q4_0", "Q4_1", "Q8_0"].includes(type)) return 32;
  if (["Q4_K", "Q5_K", "Q6_K", "IQ4_XS"].includes(type)) return 256;
  if (type === "F16") return 16;
  return undefined;
}

/** Whether the AMX buffer takes this matrix: a supported type, a row length its multiple and rows a multiple of 32. */
function amxTakes(tensor: GgufFile["tensors"][number]): boolean {
  const multiple = amxRowLengthMultiple(tensor.type.name);
  return multiple !== undefined && tensor.dims[0]! % multiple === 0 && tensor.dims[1]! % 32 === 0;
}

/** Bytes of a matrix in the AMX buffer (mmq.cpp get_row_size): Q8_0 keeps a 4-byte compensation per 32 values, K-quants 4 and IQ4_XS 2 bytes per 256. */
function amxBytes(tensor: GgufFile["tensors"][number]): number {
  const values = tensor.dims[0]! * tensor.dims[1]!;
  switch (tensor.type.name) {
    case "Q8_0":
      return tensor.byteSize + (values / 32) * 4;
    case "Q4_K":
    case "Q5_K":
      return tensor.byteSize + (values / 256) * 4;
    case "IQ4_XS":
      return tensor.byteSize + (values / 256) * 2;
    default:
      return tensor.byteSize;
  }
}

/**
 * Bytes of the model's weights that get a second copy on this CPU: the
 * matrices multiplied (not the token embedding's row lookup — but the token
 * embedding again as the output matrix when the model ties them, which
 * llama.cpp loads as a duplicate in the output's buffer) that the AMX buffer
 * takes (it comes first), else of a repacked type whose row count is a
 * multiple of the kernel's.
 */
export function repackedWeightBytes(file: GgufFile, cpu: CpuFeatures): number {
  return weightCopies(file, cpu).copyBytes;
}

/** The copies repackedWeightBytes counts, and how much of the file they stand in for. */
export interface WeightCopies {
  /** Bytes of all copies (AMX or repacked layouts). */
  copyBytes: number;
  /**
   * File bytes of the tensors whose copy replaces them: when the engine reads the file instead of mapping it, these
   * are never held twice. A tied output's copy replaces nothing: the embedding's rows are still looked up.
   */
  replacedBytes: number;
}

export function weightCopies(file: GgufFile, cpu: CpuFeatures): WeightCopies {
  const tied = !file.tensors.some((t) => t.name === "output.weight");
  let copyBytes = 0;
  let replacedBytes = 0;
  for (const tensor of file.tensors) {
    const embedding = tensor.name === "token_embd.weight";
    if (tensor.dims.length < 2 || (embedding && !tied)) continue;
    let copy = 0;
    if (cpu.amx && amxTakes(tensor)) copy = amxBytes(tensor);
    else {
      const multiple = repackRowMultiple(tensor.type.name, cpu);
      if (multiple !== undefined && tensor.dims[1]! % multiple === 0) copy = tensor.byteSize;
    }
    if (copy === 0) continue;
    copyBytes += copy;
    if (!embedding) replacedBytes += tensor.byteSize;
  }
  return { copyBytes, replacedBytes };
}
