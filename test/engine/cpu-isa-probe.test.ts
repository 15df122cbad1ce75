/** The instruction-set probe, run for real on this CPU, and its fault path through probes that cannot execute. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isaArchitecture, isaFeaturesFor, probeCpuIsa, readCpuFlags, type IsaFeature } from "../../src/engine/cpu-isa-probe.js";
import { isaCmakeOptions, saferIsaSets } from "../../src/engine/isa-cmake-options.js";

const arch = isaArchitecture();

/** A probe that executes the architecture's permanently undefined instruction: it faults on every CPU. */
function undefinedInstruction(name: string, requires: string[] = []): IsaFeature {
  const instruction = arch === "aarch64" ? "udf #0" : "ud2";
  return { name, cpuFlags: [], requires, compilerFlags: [], program: `#include <cstdio>\nint main() { __asm__ volatile("${instruction}"); std::printf("ok\\n"); return 0; }\n` };
}

describe("CPU instruction-set probe", () => {
  it("runs every advertised instruction set of this CPU in a child process and reports each", async () => {
    const flags = readCpuFlags();
    const probe = await probeCpuIsa();
    assert.equal(probe.arch, arch);
    const features = isaFeaturesFor(arch);
    assert.deepEqual(probe.results.map((r) => r.name), features.map((f) => f.name));
    for (const feature of features) {
      const result = probe.results.find((r) => r.name === feature.name)!;
      const advertised = feature.cpuFlags.every((f) => flags.has(f));
      if (!advertised) assert.equal(result.outcome, "not advertised", feature.name);
      else assert.notEqual(result.outcome, "not advertised", feature.name);
    }
    assert.deepEqual(probe.usable, probe.results.filter((r) => r.outcome === "works").map((r) => r.name));
    // The baseline of each architecture's list runs everywhere this project builds (x86-64 machines have SSE4.2 since 2008).
    if (arch === "x86_64" && flags.has("sse4_2")) assert.ok(probe.usable.includes("sse42"), JSON.stringify(probe.results));
  });

  it("marks a probe that faults (SIGILL) and everything built on it as unusable", async () => {
    const probe = await probeCpuIsa({
      features: [undefinedInstruction("faulty"), undefinedInstruction("on-top", ["faulty"]), { ...undefinedInstruction("fine"), program: `#include <cstdio>\nint main() { std::printf("ok\\n"); return 0; }\n` }],
      cpuFlags: new Set(),
    });
    assert.deepEqual(probe.results[0], { name: "faulty", outcome: "faults", detail: "killed by SIGILL" });
    assert.deepEqual(probe.results[1], { name: "on-top", outcome: "not probed", detail: "needs faulty" });
    assert.deepEqual(probe.results[2], { name: "fine", outcome: "works" });
    assert.deepEqual(probe.usable, ["fine"]);
  });

  it("probes only what the CPU advertises, and reports a probe the compiler cannot build", async () => {
    const advertisedOnly = await probeCpuIsa({ features: [{ ...undefinedInstruction("needs-flag"), cpuFlags: ["no_such_flag"] }], cpuFlags: new Set(["sse2"]) });
    assert.deepEqual(advertisedOnly.results, [{ name: "needs-flag", outcome: "not advertised" }]);
    const broken = await probeCpuIsa({ features: [{ ...undefinedInstruction("broken"), program: "int main( {" }], cpuFlags: new Set() });
    assert.equal(broken.results[0]!.outcome, "not probed");
    assert.match(broken.results[0]!.detail!, /c\+\+ cannot build the probe/);
    assert.deepEqual(broken.usable, []);
  });

  it("reads x86 flags and ARM features from /proc/cpuinfo text", () => {
    assert.deepEqual([...readCpuFlags("processor\t: 0\nflags\t\t: fpu sse4_2 avx2 amx_tile\n")], ["fpu", "sse4_2", "avx2", "amx_tile"]);
    assert.deepEqual([...readCpuFlags("processor\t: 0\nFeatures\t: fp asimd asimddp sve\n")], ["fp", "asimd", "asimddp", "sve"]);
  });
});

describe("explicit instruction-set build options", () => {
  const sapphireRapids = ["sse42", "avx", "avx2", "fma", "f16c", "bmi2", "avx_vnni", "avx512", "avx512_vbmi", "avx512_vnni", "avx512_bf16", "amx"];

  it("sets GGML_NATIVE=OFF and every x86 ISA option ON or OFF from the probe", () => {
    const noAmx = isaCmakeOptions(sapphireRapids.filter((f) => f !== "amx"), "x86_64");
    assert.equal(noAmx.GGML_NATIVE, "OFF");
    assert.equal(noAmx.GGML_AVX512, "ON");
    assert.equal(noAmx.GGML_AVX512_VNNI, "ON");
    assert.equal(noAmx.GGML_AMX_TILE, "OFF");
    assert.equal(noAmx.GGML_AMX_INT8, "OFF");
    assert.equal(noAmx.GGML_AMX_BF16, "OFF");
    assert.equal(isaCmakeOptions(sapphireRapids, "x86_64").GGML_AMX_INT8, "ON");
    const none = isaCmakeOptions([], "x86_64");
    assert.deepEqual(Object.entries(none).filter(([, v]) => v === "ON"), []);
    assert.equal(Object.keys(none).length, 15);
  });

  it("names an ARM architecture string from the extensions that work", () => {
    assert.deepEqual(isaCmakeOptions(["fp16", "dotprod", "i8mm"], "aarch64"), { GGML_NATIVE: "OFF", GGML_CPU_ARM_ARCH: "armv8.2-a+fp16+dotprod+i8mm" });
    assert.deepEqual(isaCmakeOptions([], "aarch64"), { GGML_NATIVE: "OFF", GGML_CPU_ARM_ARCH: "armv8-a" });
  });

  it("steps down from the probed set to no native flags, skipping equal steps", () => {
    assert.deepEqual(saferIsaSets(sapphireRapids, "x86_64"), [
      sapphireRapids,
      sapphireRapids.filter((f) => f !== "amx"),
      ["sse42", "avx", "avx2", "fma", "f16c", "bmi2", "avx_vnni"],
      [],
    ]);
    assert.deepEqual(saferIsaSets(["sse42", "avx", "avx2", "fma", "f16c", "bmi2"], "x86_64"), [["sse42", "avx", "avx2", "fma", "f16c", "bmi2"], []]);
    assert.deepEqual(saferIsaSets(["fp16", "dotprod", "sve"], "aarch64"), [["fp16", "dotprod", "sve"], ["fp16", "dotprod"], []]);
  });
});
