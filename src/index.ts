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
export { Gateway, type GatewayOptions, type CloseOptions } from "./server/gateway.js";
export { planServedModels, parseModelFlag } from "./server/served-model-specs.js";
export type { ApiDialect } from "./server/api-dialect.js";
export { ModelPool, type ServedModelSpec, type ModelChange, type SwapOptions, type SwapMode } from "./scheduler/model-pool.js";
export { AdmissionQueue } from "./scheduler/admission-queue.js";
export { GatewayEvents, type GatewayEventMap, type ModelState } from "./scheduler/gateway-events.js";
export type { ServedModel, ServedModelStatus, ServedStream, RequestContext, RunnerStatus } from "./scheduler/served-model.js";
export type { Runner, RunnerFactory, RunnerSpec, RunnerExit, RunnerHealth, RunnerState } from "./engine/runner.js";
export { ChildProcessRunner, ChildProcessRunnerFactory } from "./engine/runners/child-process-runner.js";
export { prepareModel, type PreparedModel } from "./engine/prepare-model.js";
