/**
 * edgelm's public library API: what the CLI uses and what applications import.
 */
export { EdgeError, isEdgeError, toEdgeError, ERROR_CODES, type ErrorCode } from "./errors.js";
export { loadConfig, checkConfig, type LoadConfigOptions } from "./config/load-config.js";
export type { Config, ConfigInput } from "./config/schema.js";
export { openModel, openResolvedModel, type OpenedModel, type OpenModelOptions } from "./engine/open-model.js";
export { NodeLlamaCppBackend } from "./engine/node-llama-cpp-backend.js";
export type * from "./engine/types.js";
export { resolveModel, demoModel, type ResolvedModel } from "./store/resolve-model.js";
export { parseModelRef, type ModelRef } from "./store/model-ref.js";
export { readGguf, parseGguf, type GgufFile, type GgufTensorInfo } from "./gguf/gguf-reader.js";
export { writeGguf, encodeGguf, type GgufDocument, type GgufTensorSpec } from "./gguf/gguf-writer.js";
export { summarizeGguf, type GgufSummary } from "./gguf/gguf-summary.js";
export { DEMO_MODEL_PATH, DEMO_MODEL_SHA256 } from "./demo/demo-model-file.js";
export { ModelStore, findInStore, storeNames, entryForSigning, resolvedFromEntry, type StoreEntry, type StoreFile } from "./store/model-store.js";
export type { Manifest, ManifestFile, FileRole } from "./store/manifest.js";
export { pullHfModel, pullCatalogEntry, type PullResult, type PullOptions } from "./store/pull.js";
export { CATALOG, findInCatalog, type CatalogEntry } from "./store/catalog.js";
export { verifyModel, type VerificationResult } from "./trust/verify-model.js";
export { checkTrust, type TrustOutcome, type TrustSubject, type TrustStatus } from "./trust/check-trust.js";
export { verifyModelSignature, type ModelContent, type VerifiedModel } from "./trust/model-signing/verify-model-signature.js";
export { signModel, type SignModelOptions, type SignedModel } from "./trust/model-signing/sign-model.js";
export { loadTrustAnchors, type TrustAnchors } from "./trust/model-signing/trust-anchors.js";
export { generateEcKeyPair, publicKeyHint } from "./trust/model-signing/ec-keys.js";
export { quantizeModel, type QuantizeOptions, type QuantizeReport } from "./gguf/quant/quantize-model.js";
export { planTensorTypes, quantTarget, QUANT_TARGETS, type QuantTargetName, type PlannedTensor } from "./gguf/quant/tensor-type-plan.js";
export { encodeTensor, decodeTensor } from "./gguf/quant/tensor-codec.js";
export { writeSyntheticModel, buildSyntheticModel, type SyntheticModelOptions } from "./gguf/synthetic-model.js";
export { parseSyntheticShape, SYNTHETIC_SHAPES, type SyntheticShape } from "./gguf/synthetic-shape.js";
export { evaluateText, type EvaluateTextOptions, type TextEvaluation } from "./quality/evaluate-text.js";
