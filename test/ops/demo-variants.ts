/**
 * The built-in demo model in a store as bigram:f32 with two variants made by
 * the quantizer, bigram:q8_0 and bigram:q4_0 (each `variant_of` bigram:f32).
 * Its dimensions are multiples of 32, so every matrix quantizes as asked.
 */
import { loadConfig } from "../../src/config/load-config.js";
import { DEMO_MODEL_PATH } from "../../src/demo/demo-model-file.js";
import { ModelStore, type StoreEntry } from "../../src/store/model-store.js";
import { quantizeVariant } from "../../src/store/quantize-variant.js";
import { resolveModel } from "../../src/store/resolve-model.js";

export async function storeDemoVariants(home: string): Promise<{ store: ModelStore; f32: StoreEntry; q8: StoreEntry; q4: StoreEntry }> {
  const { config } = loadConfig({ env: { EDGELM_HOME: home } });
  const store = new ModelStore(home);
  const { entry: f32 } = await store.add(DEMO_MODEL_PATH, { name: "bigram:f32" });
  const source = await resolveModel("bigram:f32", config, { allowDownload: false });
  const q8 = await quantizeVariant(source, { name: "bigram", tag: "q8_0" }, config, { target: "q8_0", workers: 0 });
  const q4 = await quantizeVariant(source, { name: "bigram", tag: "q4_0" }, config, { target: "q4_0", workers: 0 });
  return { store, f32, q8: q8.entry, q4: q4.entry };
}
