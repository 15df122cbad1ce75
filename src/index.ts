/**
 * edgelm's public library API: what the CLI uses and what applications import.
 */
export { EdgeError, isEdgeError, toEdgeError, ERROR_CODES, type ErrorCode } from "./errors.js";
export { loadConfig, checkConfig, type LoadConfigOptions } from "./config/load-config.js";
export type { Config, ConfigInput } from "./config/schema.js";
export { openModel, openResolvedModel, type OpenedModel, type OpenModelOptions } from "./engine/open-model.js";
export type { NodeLlamaCppBackend } from "./engine/node-llama-cpp-backend.js";

/**
 * The node-llama-cpp backend class, imported on first call: importing edgelm
 * loads no engine (openModel and the gateway's runners load theirs when used).
 *
 *   const NodeLlamaCppBackend = await loadNodeLlamaCppBackend();
 *   const model = await new NodeLlamaCppBackend().load({ path });
 */
export async function loadNodeLlamaCppBackend(): Promise<typeof import("./engine/node-llama-cpp-backend.js").NodeLlamaCppBackend> {
  return (await import("./engine/node-llama-cpp-backend.js")).NodeLlamaCppBackend;
}
export type * from "./engine/types.js";
export { resolveModel, isModelReference, pullModel } from "./store/resolve-model.js";
export type { ResolvedModel, ResolvedFile, ResolveOptions } from "./store/resolved-model.js";
export { demoModel } from "./store/sources/demo-source.js";
export type { ModelSource } from "./store/model-source.js";
export { MODEL_SOURCES } from "./store/model-sources.js";
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
export { EdgeNode, type EdgeNodeOptions } from "./edge-node.js";
export { Gateway, type GatewayOptions, type CloseOptions } from "./server/gateway.js";
export type { AppHost, DialectHost, ModelDirectory, ModelReadiness } from "./server/app-host.js";
export { Routing, type RoutingHost } from "./router/routing.js";
export { planServedModels, parseModelFlag } from "./server/served-model-specs.js";
export type { ApiDialect } from "./server/api-dialect.js";
export { ModelPool, type ServedModelSpec, type ModelChange, type SwapOptions, type SwapMode } from "./scheduler/model-pool.js";
export { AdmissionQueue } from "./scheduler/admission-queue.js";
export { RequestScope, type RequestHeaders, type ScopeOutcome } from "./scheduler/request-scope.js";
export { RequestTracker } from "./scheduler/request-tracker.js";
export { GatewayEvents, type GatewayEventMap, type ModelState } from "./scheduler/gateway-events.js";
export type { ServedModel, ServedModelStatus, ServedStream, RequestContext, RunnerStatus } from "./scheduler/served-model.js";
export type { Runner, RunnerFactory, RunnerSpec, RunnerExit, RunnerHealth, RunnerState } from "./engine/runner.js";
export { ChildProcessRunner, ChildProcessRunnerFactory } from "./engine/runners/child-process-runner.js";
export { prepareModel, type PreparedModel } from "./engine/prepare-model.js";
export { GatewayOps, type GatewayOpsOptions, type OpsHost } from "./ops/gateway-ops.js";
export { MetricsRegistry, BUCKETS } from "./ops/metrics-registry.js";
export { ResourceSampler, type ResourceSnapshot, type PowerMeter } from "./ops/resource-sampler.js";
export { SignalBoard, type SignalReader } from "./ops/signal-board.js";
export { PolicyEngine, type PolicyDecision, type PolicyStatus, type RuleState } from "./ops/policy-engine.js";
export type { GatewayOperations, RouteWeightControl, VariantFinder, ModelVariant } from "./ops/policy-target.js";
export { storeVariantFinder, lowerVariants } from "./ops/variant-ladder.js";
export { AlertDispatcher, type AlertInput } from "./ops/alert-dispatcher.js";
export { AlertmanagerSink } from "./ops/alertmanager-sink.js";
export { WebhookSink } from "./ops/webhook-sink.js";
export type { AlertSink, AlertNotice, AlertSeverity } from "./ops/alert-sink.js";
export { AdminClient, type AdminClientOptions } from "./ops/admin-client.js";
export type { AdminAnswers, AdminModel, AlertCommand, SwapCommand, WeightsCommand } from "./ops/admin-contract.js";
