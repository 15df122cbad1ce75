import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LLAMA_SERVER_CMAKE_OPTIONS } from "../../src/engine/engine-build.js";
import { portableIsa } from "../../src/engine/portable-isa.js";
import { isEdgeError } from "../../src/errors.js";

describe("portable llama-server builds (engine build --portable, the container image)", () => {
  it("x64 pins x86-64-v3 without -march=native, AVX-512 or AMX", () => {
    const options = { ...LLAMA_SERVER_CMAKE_OPTIONS, ...portableIsa("x64").cmakeOptions };
    assert.equal(options.GGML_NATIVE, "OFF");
    for (const on of ["GGML_AVX", "GGML_AVX2", "GGML_FMA", "GGML_F16C", "GGML_BMI2"]) assert.equal(options[on], "ON", on);
    for (const off of ["GGML_AVX512", "GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"]) assert.equal(options[off], "OFF", off);
  });

  it("arm64 pins ARMv8-A; an architecture without a baseline is a clear error", () => {
    assert.deepEqual(portableIsa("arm64").cmakeOptions, { GGML_NATIVE: "OFF", GGML_CPU_ARM_ARCH: "armv8-a" });
    assert.throws(() => portableIsa("riscv64"), (error: unknown) => isEdgeError(error) && error.code === "unsupported" && /no portable instruction set is defined for riscv64/.test(error.message));
  });
});
