/** A file on a Hugging Face-compatible hub: `hf:<owner>/<repo>/<file>.gguf[@<revision>]`, pulled into the store once. */
import type { ModelSource } from "../model-source.js";
import { parseModelRef } from "../model-ref.js";
import type { HfRef } from "../hf-download.js";
import { pullHfModel } from "../pull.js";

export const hfSource: ModelSource<HfRef> = {
  kind: "hf",
  parse(text) {
    if (!text.trim().startsWith("hf:")) return undefined;
    return parseModelRef(text) as HfRef;
  },
  recognizes() {
    return true;
  },
  async resolve(ref, config, options) {
    // From the store when downloaded before; else pulled unless allowDownload is false.
    return (await pullHfModel(ref, config, options)).resolved;
  },
  pull(ref, config, options) {
    return pullHfModel(ref, config, options);
  },
};
