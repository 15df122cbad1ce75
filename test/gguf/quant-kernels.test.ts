import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { ggmlTypeByName, type GgmlTypeInfo } from "../../src/gguf/ggml-types.js";
import { f16BitsToF32, f32ToF16Bits } from "../../src/gguf/half-float.js";
import { decodeTensor, encodeTensor } from "../../src/gguf/quant/tensor-codec.js";

const type = (name: string): GgmlTypeInfo => ggmlTypeByName(name)!;
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const block = (values: number[], length = 32): Float32Array => {
  const x = new Float32Array(length);
  x.set(values);
  return x;
};
/** Expected bytes as space-separated hex; "xN" after a byte means it appears N times: "00 3c 7f x3". */
function bytes(spec: string): string {
  const out: string[] = [];
  for (const token of spec.trim().split(/\s+/)) {
    if (token.startsWith("x")) {
      const last = out[out.length - 1]!;
      for (let i = 1; i < Number(token.slice(1)); i++) out.push(last);
    } else out.push(token.toLowerCase());
  }
  return out.join("");
}

describe("F16 conversion", () => {
  it("rounds to nearest with ties to even, like ggml", () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00], // halfway to the next binade: ties to even → Inf
      [1e6, 0x7c00],
      [1 + 2 ** -11, 0x3c00], // tie → even mantissa 0
      [1 + 3 * 2 ** -11, 0x3c02], // tie → even mantissa 2
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal → 0
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 subnormal units → 2
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up into the normal range
      [-0, 0x8000],
      [16 / 127, 0x3008],
    ];
    for (const [value, bits] of cases) assert.equal(f32ToF16Bits(value), bits, `${value}`);
    assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
    for (let h = 0; h < 0x7c00; h += 7) assert.equal(f32ToF16Bits(f16BitsToF32(h)), h, `round trip of ${h}`);
  });
});

describe("block encodings, computed by hand from ggml's reference algorithm", () => {
  it("Q8_0: d = amax/127 as F16, q = roundf(x/d) (halves away from zero)", () => {
    // amax 127 → d = 1 (3c00): q = roundf(x): 62.5 → 63, -62.5 → -63, -0.5 → -1, -0.49 → 0.
    const a = block([127, 62.5, -62.5, 0.5, -0.5, 1.5, 2.5, -2.5, 126.6, -127, 0.49, -0.49]);
    assert.equal(hex(encodeTensor(type("Q8_0"), a)), bytes("00 3c 7f 3f c1 01 ff 02 03 fd 7f 81 00 00 00 x20"));
    // amax 127·(1+2^-11) → d = 1+2^-11 exactly: F16 tie → even → 1.0 (3c00); -50/d → -49.98 → -50 (ce).
    const b = block([127.06201171875, -50]);
    assert.equal(hex(encodeTensor(type("Q8_0"), b)), bytes("00 3c 7f ce 00 x30"));
    // amax 16 → d = 16/127 → F16 0x3008; 1/d ≈ 7.9375: -9 → -71.44 → -71 (b9), 4 → 31.75 → 32, 1 → 8.
    const c = block([16, -9, 4, 1]);
    assert.equal(hex(encodeTensor(type("Q8_0"), c)), bytes("08 30 7f b9 20 08 00 x28"));
  });

  it("Q4_0: d = max/-8 with the sign of the largest magnitude (first wins), q = min(15, trunc(x/d + 8.5))", () => {
    // x[0] = -8 is the first of magnitude 8 → d = 1; x[16] = 8 → 16.5 → clipped to 15.
    const lo = [-8, 7, 7.4, -7.6, 0, 0.5, -0.5, 1.49, 3, -3, 2.5, -2.5, 6, -6, 4.75, -4.75];
    const hi = [8, 1, 2, 3, -1, -2, -3, 0.25, -0.25, 5.5, -5.5, 6.5, -6.5, 0.75, -0.75, 4];
    // low nibbles 0 15 15 0 8 9 8 9 11 5 11 6 14 2 13 3; high 15 9 10 11 7 6 5 8 8 14 3 15 2 9 7 12
    assert.equal(hex(encodeTensor(type("Q4_0"), block([...lo, ...hi]))), bytes("00 3c f0 9f af b0 78 69 58 89 8b e5 3b f6 2e 92 7d c3"));
    // With +8 first, d = -1 (bc00): +8 → 0, -8 → 16.5 → 15; the zeros at 16, 17 → 8 (high nibbles).
    assert.equal(hex(encodeTensor(type("Q4_0"), block([8, -8]))).slice(0, 8), "00bc808f");
  });

  it("Q4_1: d = (max-min)/15, m = min, q = min(15, trunc((x-min)/d + 0.5))", () => {
    // min -5, max 10 → d = 1 (3c00), m = -5 (c500); q = trunc(x + 5.5).
    const x = block([-5, 10, 0, 0.5, -4.5, 9.4, 2.49, 2.5, ...Array.from({ length: 16 }, (_, i) => i - 5)]);
    // q: 0 15 5 6 1 14 7 8 | 0..15 | 5×8 (x = 0)
    assert.equal(hex(encodeTensor(type("Q4_1"), x)), bytes("00 3c 00 c5 80 9f a5 b6 c1 de e7 f8 50 51 52 53 54 55 56 57"));
  });

  it("Q5_0: d = max/-16, q = min(31, trunc(x/d + 16.5)), fifth bits in qh", () => {
    // x[j] = 16 - j → d = -1 (bc00), q[j] = j; x[1] = -16 → 32.5 → clipped to 31.
    const values = Array.from({ length: 32 }, (_, j) => 16 - j);
    values[1] = -16;
    // qs[j] = (q[j] & 15) | (q[j+16] & 15) << 4 = j·0x11 except qs[1] = 0x1f; qh = bit 1 + bits 16..31.
    const qs = Array.from({ length: 16 }, (_, j) => (j === 1 ? 0x1f : j * 0x11).toString(16).padStart(2, "0")).join(" ");
    assert.equal(hex(encodeTensor(type("Q5_0"), block(values))), bytes(`00 bc 02 00 ff ff ${qs}`));
  });

  it("Q5_1: d = (max-min)/31, m = min, q = trunc((x-min)/d + 0.5)", () => {
    // x[j] = j - 1 → min -1, max 30, d = 1, m = -1 (bc00), q[j] = j; x[2] = 0.49 → 1; x[3] = 2.5 → 4.
    const values = Array.from({ length: 32 }, (_, j) => j - 1);
    values[2] = 0.49;
    values[3] = 2.5;
    const q = values.map((_, j) => (j === 2 ? 1 : j === 3 ? 4 : j));
    const qs = Array.from({ length: 16 }, (_, j) => ((q[j]! & 15) | ((q[j + 16]! & 15) << 4)).toString(16).padStart(2, "0")).join(" ");
    assert.equal(hex(encodeTensor(type("Q5_1"), block(values))), bytes(`00 3c 00 bc 00 00 ff ff ${qs}`));
  });

  it("Q4_K: a constant block gets scale 0.1/63, full 6-bit scales, zero mins, and all levels 15", () => {
    // Every sub-block: min clamps to 0, scale = 1.5/15 = 0.1 with zero error; 63/0.1 = 630 → ls = 63, lm = 0.
    // d = F16(0.1/63) = 0x1680; scales: bytes 0-3 = 63 | (63>>4)<<6 = ff, 4-7 = 0, 8-11 = 63 & 15 = 0f.
    const x = new Float32Array(256).fill(1.5);
    assert.equal(hex(encodeTensor(type("Q4_K"), x)), bytes("80 16 00 00 ff x4 00 x4 0f x4 ff x128"));
    assert.equal(hex(encodeTensor(type("Q4_K"), new Float32Array(256))), bytes("00 x144"));
  });

  it("Q6_K: a constant block gets scales of -128 and d = 1/4096", () => {
    // Sub-block fit: iscale = -32 → all levels -32, scale = -1/32 (every candidate ties, the first stays);
    // iscale = -128/(-1/32) = 4096 → d = F16(2^-12) = 0x0c00, scales = -128 (0x80), quants 0.
    const x = new Float32Array(256).fill(1);
    assert.equal(hex(encodeTensor(type("Q6_K"), x)), bytes("00 x192 80 x16 00 0c"));
    assert.equal(hex(encodeTensor(type("Q6_K"), new Float32Array(256))), bytes("00 x210"));
  });
});

/** Uniform numbers in [0, 1) from xorshift32: the same sequence everywhere (the reference digests depend on it). */
function uniform(seed: number): () => number {
  let s = seed;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** A deterministic mix of block kinds: small Gaussians, uniform, zeros, outliers, many ties, tiny, one-signed. */
function mixedInput(n: number): Float32Array {
  const x = new Float32Array(n);
  const next = uniform(0x2545f491);
  for (let b = 0; b < n; b += 256) {
    const kind = (b / 256) % 8;
    for (let i = b; i < b + 256; i++) {
      const u = next();
      const v = next();
      const g = Math.sqrt(-2 * Math.log(u + 1e-9)) * Math.cos(2 * Math.PI * v);
      x[i] =
        kind === 0 ? g * 0.02
        : kind === 1 ? (u - 0.5) * 10
        : kind === 2 ? 0
        : kind === 3 ? (v < 0.05 ? g * 4 : g * 0.01)
        : kind === 4 ? Math.round(g * 8) / 4
        : kind === 5 ? g * 1e-6
        : kind === 6 ? Math.abs(g)
        : -Math.abs(g) * 3;
    }
  }
  return x;
}

describe("agreement with llama.cpp's own reference quantizers", () => {
  // SHA-256 prefixes of what ggml's quantize_row_*_ref and dequantize_row_* (ggml-quants.c, the
  // llama.cpp release node-llama-cpp 3.21.1 bundles, built for x86-64) output for mixedInput(65536).
  const reference: Record<string, { quantized: string; dequantized: string }> = {
    Q8_0: { quantized: "9231983da76cdca55a0b933dc260d5fa", dequantized: "50fb60c918d0fb4f3f44b3f418835870" },
    Q4_0: { quantized: "49cb435e919055341034fa1411fcd024", dequantized: "4b4d2cd0b6300ec95cd8281308c35e16" },
    Q4_1: { quantized: "b0cd7bef13c2a0759569dc686400ade6", dequantized: "d7f966545c310ecbd60523ec3ee826b7" },
    Q5_0: { quantized: "f5c751205ac9f216fcaf24979fd9b3b6", dequantized: "c346affd19a7c930e72466188fba6a6f" },
    Q5_1: { quantized: "8118a911dbc9c101909cf68fb141af13", dequantized: "9373b1aba4c3791787614038ff3b52ed" },
    Q4_K: { quantized: "5bb3853462a24c2ac4606440c5bed22c", dequantized: "8103603d3b157a08ca9a8a35f62b1b1e" },
    Q6_K: { quantized: "7a6882fb55c0486970ac3bbdbb1daf47", dequantized: "7f9588a43134899601df2f75a8f9c5d6" },
  };
  const x = mixedInput(65536);
  const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex").slice(0, 32);
  for (const [name, expected] of Object.entries(reference)) {
    it(`${name}: the same bytes, and the same floats back`, () => {
      const encoded = encodeTensor(type(name), x);
      assert.equal(encoded.length, (65536 / type(name).blockSize) * type(name).typeSize);
      assert.equal(sha(encoded), expected.quantized);
      const decoded = decodeTensor(type(name), encoded);
      assert.equal(sha(new Uint8Array(decoded.buffer)), expected.dequantized);
    });
  }
});

describe("dequantize(quantize(x)) error", () => {
  function gaussian(n: number, seed: number): Float32Array {
    const next = uniform(seed);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sqrt(-2 * Math.log(next() + 1e-9)) * Math.cos(2 * Math.PI * next());
    return x;
  }
  const x = gaussian(65536, 99);

  it("stays within each type's relative RMSE bound on Gaussian weights, in order of bits", () => {
    // Measured: F16 0.0002, Q8_0 0.0054, Q6_K 0.0178, Q5_1 0.038, Q5_0 0.043, Q4_K 0.071, Q4_1 0.078, Q4_0 0.086.
    const bounds: Array<[string, number]> = [
      ["F16", 0.0003],
      ["Q8_0", 0.006],
      ["Q6_K", 0.02],
      ["Q5_1", 0.042],
      ["Q5_0", 0.047],
      ["Q4_K", 0.078],
      ["Q4_1", 0.085],
      ["Q4_0", 0.094],
    ];
    let previous = 0;
    for (const [name, bound] of bounds) {
      const y = decodeTensor(type(name), encodeTensor(type(name), x));
      let se = 0;
      let sx = 0;
      for (let i = 0; i < x.length; i++) {
        se += (y[i]! - x[i]!) ** 2;
        sx += x[i]! ** 2;
      }
      const rel = Math.sqrt(se / sx);
      assert.ok(rel < bound, `${name}: relative RMSE ${rel} ≥ ${bound}`);
      assert.ok(rel > previous, `${name} (${rel}) should lose more than the type before it (${previous})`);
      previous = rel;
    }
  });

  it("never errs by more than the block's step (plus F16 scale rounding) in the 32-blocks", () => {
    // Worst cases: half a step when rounding; a whole step for the one clipped value of the symmetric 4/5-bit types.
    const step: Record<string, (amax: number, range: number) => number> = {
      Q8_0: (amax) => amax / 127 / 2,
      Q4_0: (amax) => amax / 8,
      Q5_0: (amax) => amax / 16,
      Q4_1: (_, range) => range / 15 / 2,
      Q5_1: (_, range) => range / 31 / 2,
    };
    for (const [name, bound] of Object.entries(step)) {
      const y = decodeTensor(type(name), encodeTensor(type(name), x));
      for (let b = 0; b < x.length; b += 32) {
        let amax = 0;
        let min = Infinity;
        let max = -Infinity;
        for (let j = b; j < b + 32; j++) {
          amax = Math.max(amax, Math.abs(x[j]!));
          min = Math.min(min, x[j]!);
          max = Math.max(max, x[j]!);
        }
        const limit = bound(amax, max - min) + (amax + Math.abs(min)) * 2 ** -10;
        for (let j = b; j < b + 32; j++) {
          assert.ok(Math.abs(y[j]! - x[j]!) <= limit, `${name} block ${b / 32}: |${y[j]} - ${x[j]}| > ${limit}`);
        }
      }
    }
  });
});
