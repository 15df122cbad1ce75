/**
 * Which instruction sets really execute on this machine. A CPU's flags
 * (/proc/cpuinfo) can promise more than the kernel or hypervisor allows: AMX
 * tiles in a VM that does not pass the tile state through, AVX-512 on some
 * hybrid CPUs, SVE on some ARM boards. `-march=native` trusts the flags, so
 * `engine build` asks the CPU instead: for every instruction set the build
 * would use, a few-line program is compiled with the build's own compiler
 * (`c++`) and run in a child process; one that dies (SIGILL, SIGSEGV) or fails
 * marks that set as faulting, and the build leaves it out.
 *
 * Probed on x86-64: SSE4.2, AVX, AVX2, FMA, F16C, BMI2, AVX-VNNI, AVX-512
 * (F/CD/VL/DQ/BW), AVX-512 VBMI, VNNI, BF16, and AMX (tile config, tilezero,
 * INT8 and BF16 tile products, after asking the kernel for tile state). On
 * aarch64: FP16 arithmetic, dotprod, i8mm and SVE.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { arch as osArch, cpus, tmpdir } from "node:os";
import { join } from "node:path";

/** One instruction set the build may use, and the program that proves it runs. */
export interface IsaFeature {
  /** Short name, e.g. "avx2", "amx". */
  name: string;
  /** CPU flags (/proc/cpuinfo "flags" or "Features") that must all be present for the build to consider it. */
  cpuFlags: string[];
  /** Features this one builds on (left out when any of them is). */
  requires: string[];
  /** Compiler flags for the probe program. */
  compilerFlags: string[];
  /** A C++ program that uses the instructions and prints "ok" (exit 0) when they work. */
  program: string;
}

export type IsaProbeOutcome = "works" | "faults" | "not advertised" | "not probed";

export interface IsaProbeResult {
  name: string;
  outcome: IsaProbeOutcome;
  /** Why, for "faults" (e.g. "killed by SIGILL") and "not probed" (e.g. "the compiler does not know -mamx-tile"). */
  detail?: string;
}

export interface CpuIsaProbe {
  /** "x86_64", "aarch64", or what Node calls another architecture. */
  arch: string;
  cpu: string;
  results: IsaProbeResult[];
  /** The features that execute here, in probe order: what an explicit-ISA build may enable. */
  usable: string[];
  /** How long the probe took, in ms. */
  ms: number;
}

export interface CpuIsaProbeOptions {
  /** The CPU's advertised flags (default: read from /proc/cpuinfo). A test seam, like `features`. */
  cpuFlags?: ReadonlySet<string>;
  /** The features to probe (default: this architecture's list). */
  features?: readonly IsaFeature[];
  /** The compiler (default "c++", the one CMake picks for the build). */
  compiler?: string;
  /** Longest run of one probe program, in ms (default 5000). */
  timeoutMs?: number;
}

const PRINT_OK = `#include <cstdio>\n`;
const x86 = (name: string, cpuFlags: string[], requires: string[], compilerFlags: string[], body: string): IsaFeature => ({
  name,
  cpuFlags,
  requires,
  compilerFlags,
  program: `${PRINT_OK}#include <immintrin.h>\nvolatile int seed = 3;\nint main() {\n${body}\n}\n`,
});

/** x86-64 instruction sets ggml's CPU backend can be built with, in the order the build options list them. */
export const X86_FEATURES: readonly IsaFeature[] = [
  x86("sse42", ["sse4_2"], [], ["-msse4.2"], `__m128i a = _mm_set1_epi64x(seed); __m128i b = _mm_cmpgt_epi64(a, _mm_setzero_si128()); std::printf(_mm_extract_epi64(b, 0) ? "ok\\n" : "wrong\\n"); return 0;`),
  x86("avx", ["avx"], ["sse42"], ["-mavx"], `__m256 a = _mm256_set1_ps((float)seed); a = _mm256_add_ps(a, a); float o[8]; _mm256_storeu_ps(o, a); std::printf(o[7] == 6.0f ? "ok\\n" : "wrong\\n"); return 0;`),
  x86("avx2", ["avx2"], ["avx"], ["-mavx2"], `__m256i a = _mm256_set1_epi32(seed); a = _mm256_add_epi32(a, a); std::printf(_mm256_extract_epi32(a, 7) == 6 ? "ok\\n" : "wrong\\n"); return 0;`),
  x86("fma", ["fma"], ["avx"], ["-mavx", "-mfma"], `__m256 a = _mm256_set1_ps((float)seed); a = _mm256_fmadd_ps(a, a, a); float o[8]; _mm256_storeu_ps(o, a); std::printf(o[0] == 12.0f ? "ok\\n" : "wrong\\n"); return 0;`),
  x86("f16c", ["f16c"], ["avx"], ["-mavx", "-mf16c"], `__m128i h = _mm_set1_epi16(0x4200); __m256 f = _mm256_cvtph_ps(h); float o[8]; _mm256_storeu_ps(o, f); std::printf(o[0] == 3.0f && seed ? "ok\\n" : "wrong\\n"); return 0;`),
  x86("bmi2", ["bmi2"], [], ["-mbmi2"], `unsigned r = _pdep_u32((unsigned)seed, 0xF0u); std::printf(r == 0x30u ? "ok\\n" : "wrong\\n"); return 0;`),
  x86("avx_vnni", ["avx_vnni"], ["avx2"], ["-mavx2", "-mavxvnni"], `__m256i a = _mm256_set1_epi8((char)seed); __m256i s = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), a, a); std::printf(_mm256_extract_epi32(s, 0) == 36 ? "ok\\n" : "wrong\\n"); return 0;`),
  x86(
    "avx512",
    ["avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"],
    ["avx2", "fma", "f16c"],
    ["-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512dq", "-mavx512bw"],
    `__m512i a = _mm512_set1_epi8((char)seed); a = _mm512_add_epi8(a, a); __m256i l = _mm256_maskz_add_epi16(0xFFFF, _mm256_set1_epi16(seed), _mm256_set1_epi16(seed)); std::printf(_mm512_reduce_add_epi32(_mm512_and_si512(a, _mm512_set1_epi32(0xFF))) == 96 && _mm256_extract_epi16(l, 0) == 6 ? "ok\\n" : "wrong\\n"); return 0;`,
  ),
  x86("avx512_vbmi", ["avx512vbmi"], ["avx512"], ["-mavx512f", "-mavx512bw", "-mavx512vbmi"], `__m512i a = _mm512_set1_epi8((char)seed); a = _mm512_permutexvar_epi8(_mm512_setzero_si512(), a); std::printf(_mm_extract_epi8(_mm512_castsi512_si128(a), 0) == 3 ? "ok\\n" : "wrong\\n"); return 0;`),
  x86("avx512_vnni", ["avx512_vnni"], ["avx512"], ["-mavx512f", "-mavx512vnni"], `__m512i a = _mm512_set1_epi8((char)seed); __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), a, a); std::printf(_mm512_reduce_add_epi32(s) == 576 ? "ok\\n" : "wrong\\n"); return 0;`),
  x86("avx512_bf16", ["avx512_bf16"], ["avx512"], ["-mavx512f", "-mavx512bf16"], `__m512 a = _mm512_set1_ps((float)seed); __m512bh b = _mm512_cvtne2ps_pbh(a, a); __m512 d = _mm512_dpbf16_ps(_mm512_setzero_ps(), b, b); std::printf(_mm512_reduce_add_ps(d) == 288.0f ? "ok\\n" : "wrong\\n"); return 0;`),
  {
    name: "amx",
    cpuFlags: ["amx_tile", "amx_int8", "amx_bf16"],
    requires: ["avx512_vnni"],
    compilerFlags: ["-mamx-tile", "-mamx-int8", "-mamx-bf16"],
    // Linux hands out tile state only on request (ARCH_REQ_XCOMP_PERM 0x1023, XFEATURE_XTILEDATA 18); a VM may
    // grant it and still fault on the first tile instruction — the case this probe exists for.
    program: `${PRINT_OK}#include <immintrin.h>
#include <cstring>
#include <unistd.h>
#include <sys/syscall.h>
struct TileConfig { unsigned char palette, start; unsigned char reserved[14]; unsigned short colsb[16]; unsigned char rows[16]; };
int main() {
  if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) { std::printf("the kernel refuses AMX tile state (arch_prctl)\\n"); return 2; }
  TileConfig config; std::memset(&config, 0, sizeof config);
  config.palette = 1;
  for (int t = 0; t < 3; t++) { config.rows[t] = 16; config.colsb[t] = 64; }
  _tile_loadconfig(&config);
  alignas(64) static signed char a[16 * 64], b[16 * 64]; alignas(64) static int c[16 * 16];
  for (int i = 0; i < 16 * 64; i++) { a[i] = 1; b[i] = 2; }
  _tile_zero(0);
  _tile_loadd(1, a, 64);
  _tile_loadd(2, b, 64);
  _tile_dpbssd(0, 1, 2);
  _tile_stored(0, c, 64);
  _tile_zero(0);
  _tile_dpbf16ps(0, 1, 2);
  _tile_release();
  std::printf(c[0] == 128 ? "ok\\n" : "wrong\\n");
  return 0;
}
`,
  },
];

const arm = (name: string, cpuFlags: string[], extension: string, include: string, body: string): IsaFeature => ({
  name,
  cpuFlags,
  requires: [],
  compilerFlags: [`-march=armv8.2-a+${extension}`],
  program: `${PRINT_OK}#include <${include}>\nvolatile int seed = 3;\nint main() {\n${body}\n}\n`,
});

/** aarch64 extensions ggml uses; `-march=armv8.2-a+<name>…` enables them (GGML_CPU_ARM_ARCH). */
export const ARM_FEATURES: readonly IsaFeature[] = [
  arm("fp16", ["asimdhp", "fphp"], "fp16", "arm_neon.h", `float16x8_t a = vdupq_n_f16((float16_t)seed); a = vaddq_f16(a, a); std::printf((float)vgetq_lane_f16(a, 0) == 6.0f ? "ok\\n" : "wrong\\n"); return 0;`),
  arm("dotprod", ["asimddp"], "dotprod", "arm_neon.h", `int8x16_t a = vdupq_n_s8((signed char)seed); int32x4_t s = vdotq_s32(vdupq_n_s32(0), a, a); std::printf(vgetq_lane_s32(s, 0) == 36 ? "ok\\n" : "wrong\\n"); return 0;`),
  arm("i8mm", ["i8mm"], "i8mm", "arm_neon.h", `int8x16_t a = vdupq_n_s8((signed char)seed); int32x4_t s = vmmlaq_s32(vdupq_n_s32(0), a, a); std::printf(vgetq_lane_s32(s, 0) == 72 ? "ok\\n" : "wrong\\n"); return 0;`),
  arm("sve", ["sve"], "sve", "arm_sve.h", `svint32_t a = svdup_n_s32(seed); a = svadd_s32_z(svptrue_b32(), a, a); std::printf(svlastb_s32(svptrue_b32(), a) == 6 && svcntb() >= 16 ? "ok\\n" : "wrong\\n"); return 0;`),
];

/** The architecture name the probe and the build options use. */
export function isaArchitecture(nodeArch: string = osArch()): string {
  return nodeArch === "x64" ? "x86_64" : nodeArch === "arm64" ? "aarch64" : nodeArch;
}

/** The features probed on an architecture (none on others: the build then uses no native flags). */
export function isaFeaturesFor(architecture: string): readonly IsaFeature[] {
  return architecture === "x86_64" ? X86_FEATURES : architecture === "aarch64" ? ARM_FEATURES : [];
}

/** The CPU's advertised flags: x86 "flags", ARM "Features" (the first processor's line; an empty set when unreadable). */
export function readCpuFlags(cpuinfo?: string): Set<string> {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      return new Set();
    }
  }
  const line = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(text)?.[1] ?? "";
  return new Set(line.split(/\s+/).filter((f) => f.length > 0));
}

/**
 * Probes the instruction sets a build would use. A feature is probed when
 * the CPU advertises all of its flags and every feature it requires works;
 * each probe program is compiled and run in its own child process (a fault
 * kills only that child). Never throws for a faulting or uncompilable probe:
 * those are results.
 */
export async function probeCpuIsa(options: CpuIsaProbeOptions = {}): Promise<CpuIsaProbe> {
  const started = performance.now();
  const architecture = isaArchitecture();
  const features = options.features ?? isaFeaturesFor(architecture);
  const flags = options.cpuFlags ?? readCpuFlags();
  const compiler = options.compiler ?? "c++";
  const timeoutMs = options.timeoutMs ?? 5000;
  const dir = mkdtempSync(join(tmpdir(), "edgelm-isa-"));
  try {
    // Compile every advertised feature's probe at once (they are independent), then run them in order.
    const advertised = features.filter((f) => f.cpuFlags.length === 0 || f.cpuFlags.every((flag) => flags.has(flag)));
    const compiled = new Map<string, Promise<string | undefined>>();
    for (const feature of advertised) compiled.set(feature.name, compileProbe(dir, feature, compiler));
    const results: IsaProbeResult[] = [];
    const works = new Set<string>();
    for (const feature of features) {
      const binary = compiled.get(feature.name);
      if (!binary) {
        results.push({ name: feature.name, outcome: "not advertised" });
        continue;
      }
      const missing = feature.requires.filter((r) => !works.has(r) && features.some((f) => f.name === r));
      const error = await binary.then(
        () => undefined,
        (e: Error) => e.message,
      );
      if (error !== undefined) {
        results.push({ name: feature.name, outcome: "not probed", detail: error });
        continue;
      }
      if (missing.length > 0) {
        results.push({ name: feature.name, outcome: "not probed", detail: `needs ${missing.join(", ")}` });
        continue;
      }
      const run = await runProbe((await binary)!, timeoutMs);
      results.push(run === undefined ? { name: feature.name, outcome: "works" } : { name: feature.name, outcome: "faults", detail: run });
      if (run === undefined) works.add(feature.name);
    }
    return {
      arch: architecture,
      cpu: cpus()[0]?.model.trim() || "unknown",
      results,
      usable: results.filter((r) => r.outcome === "works").map((r) => r.name),
      ms: Math.round(performance.now() - started),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function compileProbe(dir: string, feature: IsaFeature, compiler: string): Promise<string | undefined> {
  const source = join(dir, `${feature.name}.cpp`);
  const binary = join(dir, feature.name);
  writeFileSync(source, feature.program);
  return new Promise((resolve, reject) => {
    execFile(compiler, ["-O1", ...feature.compilerFlags, "-o", binary, source], { timeout: 60_000 }, (error, _stdout, stderr) => {
      if (!error) return resolve(binary);
      const first = `${stderr}`.split("\n").find((l) => /error/.test(l))?.trim() ?? error.message;
      reject(new Error(`${compiler} cannot build the probe (${first.slice(0, 160)})`));
    });
  });
}

/** Runs one probe program; undefined when it printed "ok", else what went wrong. */
function runProbe(binary: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(binary, [], { timeout: timeoutMs, killSignal: "SIGKILL", encoding: "utf8" }, (error, stdout) => {
      const out = `${stdout}`.trim();
      if (!error) return resolve(out === "ok" ? undefined : `it ran but computed a wrong result (${out.slice(0, 80) || "no output"})`);
      const failure = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: unknown };
      if (failure.killed && failure.signal === "SIGKILL") return resolve(`it did not finish within ${timeoutMs} ms`);
      if (failure.signal) return resolve(`killed by ${failure.signal}`);
      resolve(`exit code ${String(failure.code)}${out ? `: ${out.slice(0, 120)}` : ""}`);
    });
  });
}

/** What was left out and why, e.g. "amx faults (killed by SIGILL)"; or that everything advertised executes. */
export function describeIsaProbe(probe: Pick<CpuIsaProbe, "results" | "usable">): string {
  const parts: string[] = [];
  for (const r of probe.results) if (r.outcome === "faults" || r.outcome === "not probed") parts.push(`${r.name} ${r.outcome === "faults" ? "faults" : "not probed"} (${r.detail})`);
  if (parts.length === 0) return probe.usable.length > 0 ? "every advertised instruction set probed executes" : "no instruction set probed";
  return parts.join("; ");
}
