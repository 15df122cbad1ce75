/**
 * CMake options that pin llama.cpp's CPU code to a baseline instruction set
 * instead of `-march=native`, for binaries that run on other CPUs than the one
 * that built them (the container image). x86-64: the x86-64-v3 level (AVX2,
 * FMA, F16C, BMI2; Intel Haswell / AMD Excavator and later), no AVX-512 and no
 * AMX (AMX kernels crash where the CPU advertises AMX but the VM does not let
 * it run). arm64: ARMv8-A without extensions (Raspberry Pi 4 and later).
 */
import { arch } from "node:os";
import { EdgeError } from "../errors.js";

/** What a portable build targets, by Node's `process.arch` name. */
export const PORTABLE_ISA: Readonly<Record<string, { label: string; cmakeOptions: Readonly<Record<string, string>> }>> = {
  x64: {
    label: "x86-64-v3 (AVX2, FMA, F16C, BMI2)",
    cmakeOptions: {
      GGML_NATIVE: "OFF",
      GGML_SSE42: "ON",
      GGML_AVX: "ON",
      GGML_AVX2: "ON",
      GGML_BMI2: "ON",
      GGML_FMA: "ON",
      GGML_F16C: "ON",
      GGML_AVX_VNNI: "OFF",
      GGML_AVX512: "OFF",
      GGML_AVX512_VBMI: "OFF",
      GGML_AVX512_VNNI: "OFF",
      GGML_AVX512_BF16: "OFF",
      GGML_AMX_TILE: "OFF",
      GGML_AMX_INT8: "OFF",
      GGML_AMX_BF16: "OFF",
    },
  },
  arm64: {
    label: "ARMv8-A",
    cmakeOptions: { GGML_NATIVE: "OFF", GGML_CPU_ARM_ARCH: "armv8-a" },
  },
};

/**
 * The portable ISA for a CPU architecture (default: this machine's).
 * Throws `unsupported` for architectures without one (build natively there).
 */
export function portableIsa(cpuArch: string = arch()): { label: string; cmakeOptions: Readonly<Record<string, string>> } {
  const isa = PORTABLE_ISA[cpuArch];
  if (!isa) throw new EdgeError("unsupported", `no portable instruction set is defined for ${cpuArch} (known: ${Object.keys(PORTABLE_ISA).join(", ")}); build without --portable`);
  return isa;
}
