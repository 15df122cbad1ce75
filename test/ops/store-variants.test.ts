import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { storeVariantFinder } from "../../src/ops/variant-ladder.js";
import { tempHome } from "../helpers.js";
import { storeTinyVariants } from "./tiny-variants.js";

describe("variants from the real store", () => {
  const { home, cleanup } = tempHome();
  after(cleanup);

  it("finds a stored Q4_0 variant below a stored Q8_0 model, by reference and by blob path", async () => {
    const { store, q8: source } = await storeTinyVariants(home);
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
