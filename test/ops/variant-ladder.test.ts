import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lowerVariants, type VariantEntry } from "../../src/ops/variant-ladder.js";

const entry = (reference: string, quantization: string | null, variantOf: string | null, sizeBytes = 100): VariantEntry => ({
  reference,
  path: `/store/blobs/${reference.replace(":", "-")}`,
  quantization,
  variantOf,
  sizeBytes,
});

describe("variant ladder", () => {
  const entries = [
    entry("llama:f16", "F16", null, 800),
    entry("llama:q8_0", "Q8_0", "llama:f16", 425),
    entry("llama:q4_0", "Q4_0", "llama:q8_0", 225),
    entry("llama:q6_k", "Q6_K", "llama:f16", 330),
    entry("llama:q4_k", "Q4_K", "llama:q8_0", 240),
    entry("other:q4_0", "Q4_0", null, 50),
  ];

  it("lists the family's lower variants nearest first, across variant-of-variant links", () => {
    const down = lowerVariants(entries, { ref: "llama:q8_0", path: "", quantization: "Q8_0" });
    assert.deepEqual(
      down.map((v) => v.ref),
      ["llama:q6_k", "llama:q4_k", "llama:q4_0"],
    );
    assert.deepEqual(lowerVariants(entries, { ref: "llama:q4_0", path: "", quantization: "Q4_0" }), [], "nothing below Q4_0");
  });

  it("finds the entry by its file when served by path, and never crosses into other models", () => {
    const down = lowerVariants(entries, { ref: "/models/whatever.gguf", path: "/store/blobs/llama-f16", quantization: undefined });
    assert.equal(down[0]!.ref, "llama:q8_0");
    assert.ok(!down.some((v) => v.ref.startsWith("other")));
    assert.deepEqual(lowerVariants(entries, { ref: "./loose.gguf", path: "/tmp/loose.gguf", quantization: "Q8_0" }), []);
  });

  it("survives a variant_of cycle", () => {
    const cyclic = [entry("a:q8_0", "Q8_0", "a:q4_0"), entry("a:q4_0", "Q4_0", "a:q8_0")];
    assert.deepEqual(lowerVariants(cyclic, { ref: "a:q8_0", path: "", quantization: "Q8_0" }).map((v) => v.ref), ["a:q4_0"]);
  });
});
