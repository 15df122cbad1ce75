/**
 * What policies may act on, as interfaces: the gateway's public operations,
 * the router's load weights, and where lower-precision variants of a model
 * are found. Policies never reach past these (see DESIGN.md, ops/).
 */

/** One runner process of a served model, as the gateway describes it. */
export interface RunnerView {
  id: string;
  pid: number | undefined;
  /** The engine: node-llama-cpp or llama-server. */
  backend: string;
  inFlight: number;
  parallel: number;
  draining: boolean;
  state: string;
}

/** A served model, as the gateway describes it (a subset of its status). */
export interface ServedModelView {
  name: string;
  ref: string;
  path: string;
  state: string;
  parallel: number;
  fileSize: number;
  summary?: { predominantType: string } | undefined;
  info?: { quantization: string; contextSize: number; threads: { prompt: number; decode: number } } | undefined;
  runners: RunnerView[];
  queue: { waiting: number; inFlight: number; capacity: number };
  /** For a model following a registry tag: the manifest digest and version served. */
  rollout?: { digest: string; version: string } | undefined;
}

export interface SwapRequest {
  ref?: string;
  parallel?: number;
}

export interface SwapModeOptions {
  /** overlap: load the new runner before the old stops (zero downtime); drain-first when both do not fit. */
  mode?: "overlap" | "drain-first";
}

/** The gateway operations policies (and operators, through /admin) use. */
export interface GatewayOperations {
  models(): ServedModelView[];
  addRunner(name: string): Promise<unknown>;
  removeRunner(name: string, runnerId?: string): Promise<void>;
  swapModel(name: string, change: SwapRequest, options?: SwapModeOptions): Promise<unknown>;
}

export interface RouteWeights {
  peer: number;
  cloud: number;
}

/** The router's load shifting: a share (0–1) of new default-local requests goes to peers / the cloud. */
export interface RouteWeightControl {
  /** Peer gateways configured (shifting to peers needs at least one). */
  readonly peerCount: number;
  getWeights(): RouteWeights;
  setWeights(weights: Partial<RouteWeights>): void;
}

/** A model at another precision, stored as its own entry. */
export interface ModelVariant {
  /** Reference to serve it by (e.g. `tinyllama:q4_0`). */
  ref: string;
  /** Predominant tensor type, e.g. "Q4_0". */
  quantization: string;
  sizeBytes: number;
}

export interface VariantFinder {
  /**
   * Variants of the model served from `ref` (file `path`) at lower precision
   * than `quantization`, nearest first (Q8_0 → Q6_K → Q4_0 ...).
   */
  lowerVariants(model: { ref: string; path: string; quantization: string | undefined }): ModelVariant[];
  /** Every other variant of the model, at any precision (for an operator's swap by precision name). */
  variantsOf(model: { ref: string; path: string }): ModelVariant[];
}
