/**
 * An explicit instruction-set list for ggml's CPU backend instead of
 * `-march=native` (which turns on whatever the CPU flags promise, AMX in a VM
 * included, even with GGML_AMX_*=OFF): GGML_NATIVE=OFF and one GGML_* option
 * per x86 feature, or GGML_CPU_ARM_ARCH=armv8.2-a+… on aarch64. And the
 * ladder of safer sets a build steps down when its smoke test crashes.
 */

/** The GGML_* options each x86 feature name (cpu-isa-probe.ts) turns on. */
const X86_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  sse42: ["GGML_SSE42"],
  avx: ["GGML_AVX"],
  avx2: ["GGML_AVX2"],
  fma: ["GGML_FMA"],
  f16c: ["GGML_F16C"],
  bmi2: ["GGML_BMI2"],
  avx_vnni: ["GGML_AVX_VNNI"],
  avx512: ["GGML_AVX512"],
  avx512_vbmi: ["GGML_AVX512_VBMI"],
  avx512_vnni: ["GGML_AVX512_VNNI"],
  avx512_bf16: ["GGML_AVX512_BF16"],
  amx: ["GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"],
};

/**
 * CMake options for exactly `features` (names from cpu-isa-probe.ts) on
 * `arch`: every ISA option is set, ON or OFF, so no default sneaks one in.
 * No features means no native flags at all (the compiler's baseline).
 */
export function isaCmakeOptions(features: readonly string[], arch: string): Record<string, string> {
  const options: Record<string, string> = { GGML_NATIVE: "OFF" };
  if (arch === "x86_64") {
    for (const [feature, names] of Object.entries(X86_OPTIONS)) for (const name of names) options[name] = features.includes(feature) ? "ON" : "OFF";
  } else if (arch === "aarch64") {
    const extensions = ["fp16", "dotprod", "i8mm", "sve"].filter((f) => features.includes(f));
    options.GGML_CPU_ARM_ARCH = extensions.length > 0 ? `armv8.2-a+${extensions.join("+")}` : "armv8-a";
  }
  return options;
}

/** Groups of features a crashing build leaves out, riskiest first (each step also drops the ones before it). */
const STEP_DOWN: Readonly<Record<string, readonly (readonly string[])[]>> = {
  x86_64: [["amx"], ["avx512_bf16", "avx512_vnni", "avx512_vbmi", "avx512"], ["avx_vnni", "avx2", "fma", "f16c", "bmi2", "avx", "sse42"]],
  aarch64: [["sve"], ["i8mm"], ["dotprod", "fp16"]],
};

/**
 * The ISA sets to try, first the full `usable` list, then safer ones, down to
 * none (no native flags); sets equal to an earlier one are skipped.
 */
export function saferIsaSets(usable: readonly string[], arch: string): string[][] {
  const sets: string[][] = [[...usable]];
  let current = [...usable];
  for (const group of STEP_DOWN[arch] ?? []) {
    current = current.filter((f) => !group.includes(f));
    sets.push(current);
  }
  sets.push([]);
  const seen = new Set<string>();
  return sets.filter((set) => {
    const key = set.join(" ");
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** "avx2 fma … (explicit)" or "baseline (no native flags)". */
export function describeIsaSet(features: readonly string[]): string {
  return features.length > 0 ? features.join(" ") : "baseline (no native flags)";
}
