import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { writeSyntheticModel } from "../../src/gguf/synthetic-model.js";
import { parseSyntheticShape } from "../../src/gguf/synthetic-shape.js";
import { storeVariantFinder } from "../../src/ops/variant-ladder.js";
import { ModelStore } from "../../src/store/model-store.js";
import { tempHome } from "../helpers.js";

describe("variants from the real store", () => {
  const { home, cleanup } = tempHome();
  after(cleanup);

  it("finds a stored Q4_0 variant below a stored Q8_0 model, by reference and by blob path", async () => {
    const shape = parseSyntheticShape("embd=64,layers=1,heads=2,kv=2,ffn=128,vocab=300,ctx=128");
    const q8 = join(home, "tiny-q8_0.gguf");
    const q4 = join(home, "tiny-q4_0.gguf");
    await writeSyntheticModel(q8, { shape, type: "q8_0" });
    await writeSyntheticModel(q4, { shape, type: "q4_0" });
    const store = new ModelStore(home);
    const { entry: source } = await store.add(q8, { name: "tiny:q8_0" });
    await store.addVariant("tiny:q8_0", q4, { name: "tiny", tag: "q4_0", tool: "test" });
    const finder = storeVariantFinder(store);
    const byRef = finder.lowerVariants({ ref: "tiny:q8_0", path: "", quantization: "Q8_0" });
    assert.equal(byRef.length, 1);
    assert.equal(byRef[0]!.ref, "tiny:q4_0");
    assert.equal(byRef[0]!.quantization, "Q4_0");
    assert.ok(byRef[0]!.sizeBytes > 0 && byRef[0]!.sizeBytes < source.model.size);
    assert.deepEqual(finder.lowerVariants({ ref: "/anything.gguf", path: source.model.path, quantization: undefined }).map((v) => v.ref), ["tiny:q4_0"]);
    assert.deepEqual(finder.lowerVariants({ ref: "tiny:q4_0", path: "", quantization: "Q4_0" }), []);
  });
});
