/**
 * The engine contract: what every inference backend (node-llama-cpp in-process,
 * llama.cpp's server as a runner process, a runner child over IPC) offers.
 * Domain types only — no backend's types and no wire formats leak through here.
 */

export type Role = "system" | "user" | "assistant" | "tool";

export interface ChatMessage {
  role: Role;
  content: string;
  /** Calls an assistant message made (a past turn being replayed to the model). */
  toolCalls?: ToolCall[];
  /** On a `tool` message: the id of the call it answers. */
  toolCallId?: string;
  /** On a `tool` message: the name of the function that answered. */
  name?: string;
}

/** A function the model may call: its name, what it does, and its arguments' JSON schema. */
export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON schema of the arguments object. Default: any object. */
  parameters?: Record<string, unknown>;
}

/** One call of a function, as the model made it (or as a client replays it). */
export interface ToolCall {
  id: string;
  name: string;
  /** The arguments as JSON text (an object). */
  arguments: string;
}

/**
 * Whether the model may call tools: `auto` (it decides), `none` (it answers in text),
 * `required` (it calls at least one), or one named function (it calls exactly that).
 */
export type ToolChoice = "auto" | "none" | "required" | { name: string };

/** Sampling settings. Absent fields take the documented defaults in {@link DEFAULT_SAMPLING}. */
export interface SamplingOptions {
  /** 0 = greedy (argmax). Default 0.8. */
  temperature?: number;
  /** 0 disables. Default 40. */
  topK?: number;
  /** 1 disables. Default 0.95. */
  topP?: number;
  /** 0 disables. Default 0.05. */
  minP?: number;
  /** Locally typical sampling (llama.cpp's `typical_p`); 1 disables. Default 1. The llama-server engine only. */
  typicalP?: number;
  /** Multiplicative repeat penalty over recent tokens; 1 disables. Default 1.1. */
  repeatPenalty?: number;
  /** How many recent tokens the penalties look at. Default 64. */
  repeatLastN?: number;
  /** OpenAI-style additive penalties; 0 disables. Default 0. */
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** Fixed seed for reproducible sampling; random when absent. */
  seed?: number;
  /** Token id → additive logit bias; -Infinity (or <= -100) bans a token. */
  logitBias?: Record<number, number>;
}

export const DEFAULT_SAMPLING = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repeatPenalty: 1.1,
  repeatLastN: 64,
  frequencyPenalty: 0,
  presencePenalty: 0,
} as const;

/** Output constraint: free text, any JSON object, or JSON matching a schema. */
export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; schema: Record<string, unknown>; name?: string }
  | { type: "grammar"; gbnf: string };

export interface GenerateRequest extends SamplingOptions {
  /** A raw prompt (completion), or chat messages (the model's chat template applies). */
  prompt?: string;
  /** A raw prompt as token ids (each below the vocabulary size), evaluated as given: no BOS is added. */
  promptTokens?: number[];
  messages?: ChatMessage[];
  /** Maximum tokens to generate; -1 = until EOS or the context is full. Default -1. */
  maxTokens?: number;
  stop?: string[];
  responseFormat?: ResponseFormat;
  /** Return the log-probability of each generated token and this many alternatives (0–20). */
  logprobs?: number;
  /** Add BOS and special-token parsing for raw prompts. Default true. */
  addBos?: boolean;
  /**
   * Caps this request's context (prompt + generated tokens) below the loaded
   * context, e.g. Ollama's `num_ctx`; it can never raise it. Default: the loaded context.
   */
  contextSize?: number;
  /** Reuse the longest cached prefix of the prompt (as llama-server's `cache_prompt`). Default true. */
  cachePrompt?: boolean;
  /** Keep generating past end-of-text tokens (benchmarks want fixed lengths). Default false. */
  ignoreEos?: boolean;
  /** Functions the model may call (chat only; see tool-calling.ts). Default: none. */
  tools?: ToolDefinition[];
  /** Default "auto" when tools are given. */
  toolChoice?: ToolChoice;
  /** Whether one turn may hold several calls. Default true. */
  parallelToolCalls?: boolean;
  /**
   * LoRA adapters this request applies, by index into the loaded model's selectableAdapters, each at its scale
   * (absent: the adapter's own, default 1), with its name when chosen by name (a gateway maps names to the runner's
   * indices). Default: none.
   */
  adapters?: Array<{ index: number; scale?: number; name?: string }>;
  /** Extra variables for the model's Jinja chat template (llama-server's chat_template_kwargs); they cannot replace messages, tools or the special tokens. */
  chatTemplateKwargs?: Record<string, unknown>;
}

export interface EmbedOptions {
  /** Cut inputs longer than the context to fit (Ollama's default) instead of failing with context_overflow. Default false. */
  truncate?: boolean;
}

export interface TokenLogprob {
  token: string;
  id: number;
  logprob: number;
}

/** One generated piece of text, streamed as soon as it is final (stop strings resolved). */
export interface GeneratedChunk {
  text: string;
  /** Token ids in this chunk (may be empty when text was held back and released). */
  tokens: number[];
  /** Per-token log-probabilities, when requested. */
  logprobs?: Array<TokenLogprob & { top: TokenLogprob[] }>;
}

/** `tool_calls`: the model called functions (the calls are in the result's `toolCalls`). */
export type FinishReason = "stop" | "length" | "abort" | "tool_calls";

/** Timings of one request, in milliseconds unless named otherwise. */
export interface Timings {
  /** From the call until the first generated token was known. */
  timeToFirstTokenMs: number;
  /** Prompt evaluation time (part of the time to first token). */
  promptMs: number;
  /** From the first to the last generated token. */
  decodeMs: number;
  totalMs: number;
  promptTokens: number;
  /** Prompt tokens reused from the sequence's cache (not evaluated again). */
  cachedPromptTokens: number;
  completionTokens: number;
  /** Mean time between generated tokens (decodeMs / (completionTokens - 1)). */
  perTokenMs: number;
  /** completionTokens per second of decode time. */
  decodeTokensPerSecond: number;
  /** Prompt tokens per second of prompt time. */
  promptTokensPerSecond: number;
}

export interface GenerationResult {
  text: string;
  finishReason: FinishReason;
  /** The stop string that ended generation, when one did. */
  stoppedBy?: string;
  /** The functions the model called (with finishReason "tool_calls"); `text` is then what it wrote besides them. */
  toolCalls?: ToolCall[];
  timings: Timings;
}

/**
 * A stream of generated chunks; `result` settles once the stream ends
 * (also when it ends by abort, with finishReason "abort").
 */
export interface TokenStream extends AsyncIterable<GeneratedChunk> {
  readonly result: Promise<GenerationResult>;
}

export interface ModelInfo {
  /** Display name (store name or file name). */
  name: string;
  path: string;
  architecture: string;
  /** Context size the runtime context was created with. */
  contextSize: number;
  trainContextSize: number;
  vocabSize: number;
  embeddingSize: number;
  parameterCount: number;
  fileSize: number;
  /** Predominant weight type, e.g. "Q8_0". */
  quantization: string;
  hasChatTemplate: boolean;
  /** Parallel sequences (slots) the loaded model serves at once. */
  parallel: number;
  backend: string;
  /** Which build of the backend runs it, e.g. "node-llama-cpp 3.21.1 prebuilt (llama.cpp v0.4.0)". */
  engineBuild: string;
  threads: ThreadSetting;
  /** Whether prompt and decode really run with their own thread counts (else `threads.decode` serves both). */
  threadsPerPhase: boolean;
}

export interface ThreadSetting {
  /** Threads used while evaluating prompts (batches). */
  prompt: number;
  /** Threads used while decoding (one token per step). */
  decode: number;
}

export interface LoadOptions {
  path: string;
  name?: string;
  /** Context tokens per sequence. Default: min(train context, 4096). */
  contextSize?: number;
  /** Parallel sequences (slots). Default 1. */
  parallel?: number;
  /** Threads; default: the tuned choice for this model and machine, else all cores. */
  threads?: Partial<ThreadSetting>;
  /** Prompt batch size. Default 512. */
  batchSize?: number;
  /** Map the model file or read it (config `engine.mmap`; weight-residency.ts decides auto per engine). Default auto. */
  mmap?: "auto" | "on" | "off";
  /** Load for embeddings as well as generation. */
  embeddings?: boolean;
  /**
   * LoRA adapters applied to every sequence of this loaded model, each at its scale (node-llama-cpp applies adapters
   * per context, so a model loaded with adapters is its own context; see docs/adaptation.md). Default: none.
   */
  adapters?: ReadonlyArray<{ path: string; scale: number }>;
  /**
   * LoRA adapters loaded unapplied, which each request selects by index (GenerateRequest.adapters). llama-server
   * loads them with `--lora … --lora-init-without-apply` and sends per-request `lora`; node-llama-cpp, which applies
   * adapters per context, gives each distinct adapter set a context of its own (see adapterContexts). Each is checked
   * against the model (its recorded base, architecture, shapes) before it is loaded. Default: none.
   */
  selectableAdapters?: ReadonlyArray<{ name: string; path: string }>;
  /**
   * node-llama-cpp: the contexts of adapter sets (created on first use, the least recently used idle one disposed
   * when another set needs room): `max` alive at once (default 4), `sequences` each (default min(parallel, 2)), each
   * of the model's context size. Ignored by llama-server, and without selectableAdapters.
   */
  adapterContexts?: { max?: number; sequences?: number };
  /** Limits on rendering the model's chat template (config `engine.chat_template`). Default: that section's defaults. */
  chatTemplateLimits?: TemplateLimits;
  /** Bounds of the compiled-grammar cache (config `engine.grammar_cache`; node-llama-cpp). Default: that section's defaults. */
  grammarCacheLimits?: { maxEntries: number; maxBytes: number };
  /** Warm prefixes (config `engine.prefix_cache`, `server.models[].warm_prefixes`; llama-server runners). Absent: none. */
  prefixCache?: PrefixCacheOptions;
  signal?: AbortSignal;
}

/** What a runner precomputes and keeps of prompt prefixes (see llama-server/slot-prefixes.ts). */
export interface PrefixCacheOptions {
  /** System prompts whose rendered chat prefix is evaluated once at load and copied into every slot. */
  warmPrefixes: string[];
  /** Where saved prefix states persist ($EDGELM_HOME/prefix-cache); absent: they do not outlive the runner. */
  dir?: string;
  /** sha256 of the model file: states persist under it and are restored only for the same hash. Absent: none persist. */
  modelSha256?: string;
  /** Most bytes of saved states kept per model (config `engine.prefix_cache.max_disk_mb`). */
  maxDiskBytes: number;
  /** A chat system prompt seen this many times is learned (kept and placed at the next start); 0 or absent: never. */
  learnAfter?: number;
  /** Most warm prefixes, configured and learned (config `engine.prefix_cache.max_prefixes`). Default 4. */
  maxPrefixes?: number;
}

/** Limits on one render of a model's chat template (see bounded-template.ts). */
export interface TemplateLimits {
  /** Longest one render may take, in ms (config `engine.chat_template.render_timeout_ms`). */
  renderTimeoutMs: number;
  /** Most bytes (UTF-8) one render may produce (`engine.chat_template.max_output_bytes`). */
  maxOutputBytes: number;
  /** Heap of the rendering thread, in MiB (`engine.chat_template.memory_mb`). */
  memoryMb: number;
  /** Longest template source, in UTF-8 bytes (`engine.chat_template.max_source_bytes`). */
  maxSourceBytes: number;
}

export interface EmbeddingResult {
  vectors: number[][];
  promptTokens: number;
}

/** A model loaded by some backend, ready to generate. */
export interface LoadedModel extends AsyncDisposable {
  readonly info: ModelInfo;
  /**
   * Starts a generation once a sequence is free. Rejects before any token with an
   * EdgeError for bad input (context_overflow, invalid_request) so a server can
   * still answer with a status; later failures surface through the stream.
   */
  generate(request: GenerateRequest, signal?: AbortSignal): Promise<TokenStream>;
  /** Mean-pooled (or the model's pooling), L2-normalised embeddings. */
  embed(inputs: string[], signal?: AbortSignal, options?: EmbedOptions): Promise<EmbeddingResult>;
  tokenize(text: string, options?: { addBos?: boolean }): Promise<number[]>;
  detokenize(tokens: number[]): Promise<string>;
  /** The prompt text the model's chat template (or the fallback) makes of messages. */
  renderChat(messages: ChatMessage[]): Promise<string>;
  /**
   * Evaluates `tokens` from an empty context (at most the context size) and yields,
   * after each of them in order, the natural-log probability of every vocabulary
   * token being next (an array of vocabSize entries; -Infinity where it underflows).
   * For quality measurement: perplexity, KL divergence between two models.
   * Optional: a backend that cannot expose full distributions leaves it out.
   */
  nextTokenLogprobs?(tokens: number[], signal?: AbortSignal): AsyncIterable<Float32Array>;
  /** Slots currently generating. */
  readonly activeSequences: number;
  /** How full the backend's compiled-grammar cache is, when it keeps one (node-llama-cpp). */
  grammarCacheStats?(): { entries: number; bytes: number; evictions: number };
  /**
   * Changes the thread counts of a loaded model, from the next batch on (thread
   * tuning measures candidates this way). Absent on backends that fix threads
   * when they start (a runner process).
   */
  setThreads?(threads: ThreadSetting): void;
  dispose(): Promise<void>;
}

/** A backend knows how to load models. */
export interface EngineBackend {
  readonly name: string;
  load(options: LoadOptions): Promise<LoadedModel>;
}
