import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { storeVariantFinder } from "../../src/ops/variant-ladder.js";
import { tempHome } from "../helpers.js";
import { storeDemoVariants } from "./demo-variants.js";

describe("variants from the real store", () => {
  const { home, cleanup } = tempHome();
  after(cleanup);

  it("finds the quantizer's Q4_0 variant below the Q8_0 one, by reference and by blob path", async () => {
    const { store, q8, q4 } = await storeDemoVariants(home);
    assert.equal(q8.manifest.quantization, "Q8_0");
    assert.equal(q4.manifest.variant_of, "bigram:f32");
    const finder = storeVariantFinder(store);
    const byRef = finder.lowerVariants({ ref: "bigram:q8_0", path: "", quantization: "Q8_0" });
    assert.deepEqual(byRef.map((v) => [v.ref, v.quantization]), [["bigram:q4_0", "Q4_0"]]);
    assert.ok(byRef[0]!.sizeBytes > 0 && byRef[0]!.sizeBytes < q8.model.size);
    assert.deepEqual(finder.lowerVariants({ ref: "/anything.gguf", path: q8.model.path, quantization: undefined }).map((v) => v.ref), ["bigram:q4_0"]);
    assert.deepEqual(finder.lowerVariants({ ref: "bigram:q4_0", path: "", quantization: "Q4_0" }), []);
    assert.deepEqual(finder.variantsOf({ ref: "bigram:q4_0", path: "" }).map((v) => v.quantization), ["F32", "Q8_0"], "an operator may go back up");
  });
});
