/**
 * What the HTTP dialects see of a model: a name, a description, and generate /
 * embed with admission behind them. The local model pool implements it; a
 * routed model (local | peer | cloud) can implement it too and slot in unseen.
 */
import type { GgufSummary } from "../gguf/gguf-summary.js";
import type { EmbeddingResult, EmbedOptions, GenerateRequest, ModelInfo, TokenStream } from "../engine/types.js";
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
}

export interface ServedModel {
  readonly name: string;
  describe(): ServedModelStatus;
  /** Admission, then generation on some runner. Rejects with an EdgeError before any token (queue_full, model_not_ready, context_overflow, ...). */
  generate(request: GenerateRequest, context: RequestContext): Promise<ServedStream>;
  embed(inputs: string[], context: RequestContext, options?: EmbedOptions): Promise<EmbeddingResult & { runnerId: string; queueWaitMs: number }>;
  /** Token ids of `text` by the model's tokenizer (no admission: it takes no sequence); model_not_ready while no runner is up. */
  tokenize(text: string, options?: { addBos?: boolean }): Promise<number[]>;
}
