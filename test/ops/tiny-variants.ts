/** A small llama-shaped model at Q8_0 and its Q4_0 variant in a store, linked by variant_of (random weights, real GGUF). */
import { join } from "node:path";
import { writeSyntheticModel } from "../../src/gguf/synthetic-model.js";
import { parseSyntheticShape } from "../../src/gguf/synthetic-shape.js";
import { ModelStore, type StoreEntry } from "../../src/store/model-store.js";

export async function storeTinyVariants(home: string, shapeText = "embd=64,layers=1,heads=2,kv=2,ffn=128,vocab=300,ctx=128"): Promise<{ store: ModelStore; q8: StoreEntry; q4: StoreEntry }> {
  const shape = parseSyntheticShape(shapeText);
  const q8Path = join(home, "tiny-q8_0.gguf");
  const q4Path = join(home, "tiny-q4_0.gguf");
  await writeSyntheticModel(q8Path, { shape, type: "q8_0" });
  await writeSyntheticModel(q4Path, { shape, type: "q4_0" });
  const store = new ModelStore(home);
  const { entry: q8 } = await store.add(q8Path, { name: "tiny:q8_0" });
  const q4 = await store.addVariant("tiny:q8_0", q4Path, { name: "tiny", tag: "q4_0", tool: "test" });
  return { store, q8, q4 };
}
