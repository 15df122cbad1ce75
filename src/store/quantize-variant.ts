/**
 * Quantizes a store model into a new store entry recorded as its variant
 * (`variant_of`), which the precision-swap policy switches between. The
 * quantized file is written inside the store's temp area and moved in; when
 * the device has a signing key (`trust.local_key`) the variant is signed with
 * it, else it is unsigned.
 */
import { rm } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import type { Config } from "../config/schema.js";
import { EdgeError, toEdgeError } from "../errors.js";
import { quantizeModel, type QuantizeOptions, type QuantizeReport } from "../gguf/quant/quantize-model.js";
import { quantTarget } from "../gguf/quant/tensor-type-plan.js";
import { signWithLocalKey } from "../trust/sign-with-local-key.js";
import { formatStoreName, type StoreName } from "./model-ref.js";
import { ModelStore, type StoreEntry } from "./model-store.js";
import type { ResolvedModel } from "./resolved-model.js";

export interface QuantizeVariantOptions extends QuantizeOptions {
  /** Replace an existing entry of the output's name. Default false. */
  force?: boolean;
}

export interface QuantizedVariant {
  report: QuantizeReport;
  entry: StoreEntry;
  /** Signed with trust.local_key. */
  signed: boolean;
}

/**
 * Quantizes `source` (a store entry) into the store entry `output`.
 * Errors: usage (the source is not in the store, the output is the source,
 * or exists without `force`), and every error of quantizeModel.
 */
export async function quantizeVariant(source: ResolvedModel, output: StoreName, config: Config, options: QuantizeVariantOptions): Promise<QuantizedVariant> {
  const reference = formatStoreName(output);
  if (source.source !== "store") {
    throw new EdgeError(
      "usage",
      `${source.name} is not in the store, so ${reference} cannot be recorded as its variant: add it first (edgelm add ${source.path} --name <name:tag>), or give a file path as the output`,
      { param: "output" },
    );
  }
  if (reference === source.name) throw new EdgeError("usage", `${reference} is the model being quantized; give the variant its own tag`, { param: "output" });
  const store = ModelStore.open(config);
  if (store.get(reference) && !options.force) {
    throw new EdgeError("usage", `${reference} is already in the store; choose another tag or pass --force to replace it`, { param: "output" });
  }
  const target = typeof options.target === "string" ? quantTarget(options.target) : options.target;
  return quantizeInStore(source.path, store, config, options, async (quantized) => {
    const entry = await store.addVariant(source.name, quantized.model, {
      name: output.name,
      tag: output.tag,
      tool: `edgelm quantize --type ${target.name}`,
      move: true,
      ...(quantized.signature ? { signature: quantized.signature } : {}),
      ...(options.force ? { force: true } : {}),
    });
    return { report: quantized.report, entry, signed: quantized.signature !== undefined };
  });
}

/** A quantized file in the store's temp area, and its signature when the device signs (trust.local_key). */
export interface QuantizedFile {
  report: QuantizeReport;
  model: string;
  signature: string | undefined;
}

/**
 * Quantizes `sourcePath` into a temp file inside the store, signs it with
 * trust.local_key when one is configured, and hands both to `commit` (which
 * stores them); the temp files are removed afterwards, whatever happened.
 */
export async function quantizeInStore<T>(
  sourcePath: string,
  store: ModelStore,
  config: Config,
  options: QuantizeOptions,
  commit: (quantized: QuantizedFile) => Promise<T>,
): Promise<T> {
  await mkdir(store.paths.tmp, { recursive: true }).catch((error: unknown) => {
    throw toEdgeError(error, `cannot write into the store at ${store.paths.tmp}`);
  });
  const modelTemp = store.tempPath();
  const signatureTemp = store.tempPath();
  try {
    const report = await quantizeModel(sourcePath, modelTemp, options);
    const signed = await signWithLocalKey(modelTemp, config, signatureTemp);
    return await commit({ report, model: modelTemp, signature: signed ? signatureTemp : undefined });
  } finally {
    await rm(modelTemp, { force: true }).catch(() => {});
    await rm(signatureTemp, { force: true }).catch(() => {});
  }
}
