/**
 * What the HTTP dialects see of a model: a name, a description, and generate /
 * embed with admission behind them. The local model pool implements it; a
 * routed model (local | peer | cloud) can implement it too and slot in unseen.
 */
import type { GgufSummary } from "../gguf/gguf-summary.js";
import type { ChatMessage, EmbeddingResult, EmbedOptions, GenerateRequest, ModelInfo, TokenStream } from "../engine/types.js";
import type { ModelState } from "./gateway-events.js";

/** One request's identity and lifetime, made by the HTTP layer. */
export interface RequestContext {
  requestId: string;
  /** Dialect and endpoint, e.g. "openai.chat". */
  route: string;
  /** Aborted when the client goes away, the request times out, or the gateway shuts down (the reason says which). */
  signal: AbortSignal;
  /** performance.now() when the request arrived. */
  receivedAt: number;
  /** Request headers (a router may route on them). */
  headers: Record<string, string | string[] | undefined>;
}

/** A TokenStream plus where and how it was served. */
export interface ServedStream extends TokenStream {
  readonly runnerId: string;
  readonly backend: string;
  /** Time spent in the admission queue, in ms. */
  readonly queueWaitMs: number;
  /** Time spent waiting for the model to (re)load before admission, in ms (Ollama's load_duration). */
  readonly loadWaitMs: number;
  /** For routed models: where the request was served and why. */
  readonly route?: ServedRoute;
  /** Present when a local model generated it (absent when a peer or the cloud answered). */
  readonly local?: LocalGeneration;
}

/** Which local model generated a stream, and the kind of output its request constrained it to. */
export interface LocalGeneration {
  /** The local model's served name. */
  model: string;
  /** The request's response format (json_object, json_schema, grammar); absent for free text. */
  format?: "json_object" | "json_schema" | "grammar";
}

/** Where a routed request was served (sent as x-edgelm-route / x-edgelm-served-by / x-edgelm-route-reason). */
export interface ServedRoute {
  target: "local" | "peer" | "cloud";
  /** "local", or the upstream's name. */
  servedBy: string;
  reason: string;
}

export interface RunnerStatus {
  id: string;
  pid: number | undefined;
  backend: string;
  state: string;
  /** Requests this runner is generating. */
  inFlight: number;
  parallel: number;
  /** True while it finishes its requests before stopping (swap, removal). */
  draining: boolean;
  /** The model reference it runs (differs from the model's during a swap). */
  ref: string;
}

export interface ServedModelStatus {
  name: string;
  /** The reference as given (path, name:tag, hf:...). */
  ref: string;
  path: string;
  state: ModelState;
  /** Why the model is not ready (failed or restarting), when it is not. */
  reason?: string;
  /** Verification of the file now served. */
  sha256: string | undefined;
  hashVerified: boolean;
  /** What the trust policy found (pinned, signed, unsigned), with a one-line summary. */
  trust: { status: string; summary: string } | undefined;
  /** Facts from the GGUF header (available before any runner is up). */
  summary: GgufSummary | undefined;
  /** The runtime's view (context size, threads, ...) once a runner is up. */
  info: ModelInfo | undefined;
  fileSize: number;
  /** When the file was last modified (Ollama's modified_at). */
  modifiedAt: Date | undefined;
  parallel: number;
  runners: RunnerStatus[];
  queue: { waiting: number; limit: number; inFlight: number; capacity: number };
  /** When the idle model unloads by itself (keep-alive); null when it stays loaded; absent when not known (routed models). */
  expiresAt?: Date | null;
  /** Settings its store entry carries (Ollama's Modelfile: SYSTEM, TEMPLATE, PARAMETER), applied by the Ollama dialect. */
  settings?: ModelSettings;
  /** For a model that follows a registry tag: what it serves and where its rollout stands. */
  rollout?: RolloutReport;
  /** Names of the LoRA adapters requests may select, in load order (their index is llama-server's adapter id). */
  adapters?: string[];
  /** LoRA adapters its store entry applies to every request (Ollama's ADAPTER): the adapter entry, its file and scale. */
  appliedAdapters?: Array<{ name: string; sha256: string; scale: number; path: string }>;
}

/** A model's own defaults, as an Ollama Modelfile gives them. */
export interface ModelSettings {
  system?: string;
  template?: string;
  /** Ollama option names (temperature, num_predict, stop, ...) with their values. */
  parameters?: Record<string, unknown>;
}

/** A followed model's rollout, as /ready, /api/ps, /admin/rollout and the metrics show it. */
export interface RolloutReport {
  /** The reference followed (oci://host/repo:tag), and the tag this gateway's wave polls. */
  follow: string;
  polls: string;
  group: string | undefined;
  /** Manifest digest and version (the manifest's org.opencontainers.image.version, else the short digest) now served. */
  digest: string;
  version: string;
  /** idle | pulling | gating | switching | observing | published | rolled_back | failed */
  state: string;
  /** Why the last candidate was refused or rolled back, when one was. */
  reason?: string;
  /** The version kept for `edgelm admin rollback`, if any. */
  previous?: { digest: string; version: string; ref: string };
  /** Digests refused here (failed gate or rolled back); never taken again. */
  refused: Array<{ digest: string; reason: string; at: string }>;
  lastCheckAt?: string;
}

export interface ServedModel {
  readonly name: string;
  describe(): ServedModelStatus;
  /** Admission, then generation on some runner. Rejects with an EdgeError before any token (queue_full, model_not_ready, context_overflow, ...). */
  generate(request: GenerateRequest, context: RequestContext): Promise<ServedStream>;
  embed(inputs: string[], context: RequestContext, options?: EmbedOptions): Promise<EmbeddingResult & { runnerId: string; queueWaitMs: number }>;
  /** The model's own tokenizer and chat template (llama-server's /tokenize, /detokenize, /apply-template), without taking a sequence; model_not_ready while no runner is up. */
  tokenize(text: string, options?: { addBos?: boolean }): Promise<number[]>;
  detokenize(tokens: number[]): Promise<string>;
  renderChat(messages: ChatMessage[]): Promise<string>;
  /** Ollama's keep_alive for this and later requests, in ms (null = forever, undefined = the default); local models only. */
  setKeepAlive?(ms: number | null | undefined): void;
  /** Stops its runners now; the next request loads it again (Ollama's keep_alive: 0 on a load-only request). */
  unload?(): Promise<void>;
}
