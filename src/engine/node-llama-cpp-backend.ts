/**
 * The node-llama-cpp backend: llama.cpp in this process. The only module that
 * imports node-llama-cpp; everything it returns is in the engine's own types.
 */
import { statSync } from "node:fs";
import { basename } from "node:path";
import {
  getLlama,
  getModuleVersion,
  LlamaGrammarEvaluationState,
  LlamaLogLevel,
  TokenBias,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import { EdgeError, toEdgeError } from "../errors.js";
import { logger } from "../log.js";
import { ChatTemplate, withSingleBos } from "./chat-template.js";
import { BYTES_PER_REPETITION, gbnfExpansion } from "./grammar-expansion.js";
import { DEFAULT_GRAMMAR_CACHE_LIMITS, GrammarCache, type GrammarCacheLimits, type GrammarCacheStats } from "./grammar-cache.js";
import { localBuildForAuto } from "./local-build-choice.js";
import { findLocalNodeLlamaCppBuild } from "./local-build-profile.js";
import { StopMatcher } from "./stop-matcher.js";
import { makeTimings, PushTokenStream } from "./token-stream.js";
import { toolCalling } from "./tool-calling.js";
import type { ToolCallSyntax } from "./tool-call-syntax.js";
import {
  DEFAULT_SAMPLING,
  type ChatMessage,
  type EmbeddingResult,
  type EmbedOptions,
  type EngineBackend,
  type FinishReason,
  type GenerateRequest,
  type GeneratedChunk,
  type GenerationResult,
  type LoadedModel,
  type LoadOptions,
  type ModelInfo,
  type ResponseFormat,
  type ThreadSetting,
  type TokenLogprob,
  type TokenStream,
} from "./types.js";
import { summarizeGguf, type GgufSummary } from "../gguf/gguf-summary.js";
import { readGguf } from "../gguf/gguf-reader.js";
import { contextOverflowError } from "./context-overflow.js";
import { resolveThreads } from "./thread-setting.js";
import { unitVector } from "./unit-vector.js";

export interface NodeLlamaCppOptions {
  /** "auto" uses a GPU when node-llama-cpp finds one; false forces CPU. Default false. */
  gpu?: "auto" | false;
  /**
   * Which llama.cpp binaries: "prebuilt" (shipped with node-llama-cpp), "local"
   * (the on-device build `edgelm engine build --backend node-llama-cpp` makes),
   * or "auto" (local when it exists, else prebuilt). Default "auto".
   */
  build?: "auto" | "prebuilt" | "local";
  /**
   * Load exactly the local node-llama-cpp build made with these CMake options
   * (`npx node-llama-cpp source build` with NODE_LLAMA_CPP_CMAKE_OPTION_*), instead
   * of `build`: for comparing builds in benchmarks.
   */
  cmakeOptions?: Record<string, string>;
}

interface Runtime {
  llama: Llama;
  build: string;
}

const runtimes = new Map<string, Promise<Runtime>>();

/** llama.cpp's recent model-load errors: a failed load reports its reason here, not in the thrown error. */
const loadErrors: string[] = [];

function llamaLogger(level: LlamaLogLevel, message: string): void {
  const text = message.trim();
  if (!text) return;
  if ((level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) && /llama_model_load|error loading model|failed to load model/.test(text)) {
    // Surfaced once, in the load's own error message (see classifyLoadError).
    loadErrors.push(text);
    if (loadErrors.length > 8) loadErrors.shift();
    logger.debug(`llama.cpp: ${text}`);
    return;
  }
  if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) logger.warn(`llama.cpp: ${text}`);
  else logger.debug(`llama.cpp: ${text}`);
}

async function loadLlama(gpu: "auto" | false, localOptions: Readonly<Record<string, string>> | undefined): Promise<Llama> {
  return getLlama({
    gpu,
    // Never compile in the middle of a command: prebuilt binaries or a build made by `edgelm engine build`.
    build: "never",
    ...(localOptions ? { cmakeOptions: { ...localOptions }, usePrebuiltBinaries: false } : {}),
    progressLogs: false,
    // maxThreads 0: every context uses exactly the threads it asks for.
    maxThreads: 0,
    logLevel: LlamaLogLevel.warn,
    logger: llamaLogger,
  });
}

async function describeBuild(llama: Llama): Promise<string> {
  const version = await getModuleVersion().catch(() => "?");
  const options = Object.entries(llama.cmakeOptions)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  const kind = llama.buildType === "prebuilt" ? "prebuilt" : `local build${options ? ` (${options})` : ""}`;
  return `node-llama-cpp ${version} ${kind}, llama.cpp ${llama.llamaCppRelease.release}`;
}

/** The shared llama.cpp runtime for a GPU and build choice. Never compiles anything. */
function getRuntime(gpu: "auto" | false, build: "auto" | "prebuilt" | "local", cmakeOptions?: Record<string, string>): Promise<Runtime> {
  const key = `${gpu}:${build}:${JSON.stringify(cmakeOptions ?? null)}`;
  let runtime = runtimes.get(key);
  if (runtime) return runtime;
  runtime = (async () => {
    let llama: Llama | undefined;
    if (cmakeOptions) {
      llama = await loadLlama(gpu, cmakeOptions);
    } else if (build === "local") {
      // Pinned to the local build: no smoke test (the smoke test itself runs this way), a clear error when there is none.
      const local = findLocalNodeLlamaCppBuild();
      try {
        // A build whose source clone is gone would load, then fail every grammar: not usable (see findLocalNodeLlamaCppBuild).
        if (!local) throw new Error("none is finished, or the llama.cpp source folder it reads grammars from is gone");
        llama = await loadLlama(gpu, local.cmakeOptions);
      } catch (error) {
        throw new EdgeError(
          "model_load_failed",
          `no usable on-device node-llama-cpp build (${errorText(error)}); make one with \`edgelm engine build --backend node-llama-cpp\` or use engine.node_llama_cpp_build: prebuilt`,
        );
      }
    } else if (build === "auto") {
      const local = await localBuildForAuto();
      if (local) llama = await loadLlama(gpu, local.cmakeOptions).catch(() => undefined);
    }
    llama ??= await loadLlama(gpu, undefined);
    return { llama, build: await describeBuild(llama) };
  })().catch((error: unknown) => {
    runtimes.delete(key);
    if (error instanceof EdgeError) throw error;
    throw new EdgeError("model_load_failed", `cannot start llama.cpp: ${errorText(error)}`);
  });
  runtimes.set(key, runtime);
  return runtime;
}

/**
 * Gives a context separate thread counts for prompt batches and single-token
 * decode steps — llama.cpp's own n_threads_batch / n_threads split, which
 * node-llama-cpp 3.21.1 collapses into one value that it sets before every
 * batch. Its native context records the batch size (initBatch) just before it
 * sets the threads (setThreads), so the count can follow the batch. These are
 * internals of the pinned version: when they are not there, the context keeps
 * one count for both (and says so through `threadsPerPhase`).
 * @internal exported for tests
 */
export function splitThreadsPerPhase(context: LlamaContext, current: () => ThreadSetting): boolean {
  const native = (context as unknown as { _ctx?: Record<string, unknown> })._ctx;
  const initBatch = native?.initBatch;
  const setThreads = native?.setThreads;
  if (!native || typeof initBatch !== "function" || typeof setThreads !== "function") return false;
  let batchTokens = 1;
  try {
    // Own properties shadow the native (read-only) prototype methods of this one context.
    Object.defineProperty(native, "initBatch", {
      configurable: true,
      value: (size: number) => {
        batchTokens = size;
        return initBatch.call(native, size);
      },
    });
    Object.defineProperty(native, "setThreads", {
      configurable: true,
      value: () => {
        const threads = current();
        return setThreads.call(native, batchTokens > 1 ? threads.prompt : threads.decode);
      },
    });
  } catch {
    return false;
  }
  return true;
}

export class NodeLlamaCppBackend implements EngineBackend {
  readonly name = "node-llama-cpp";
  constructor(private readonly options: NodeLlamaCppOptions = {}) {}

  async load(options: LoadOptions): Promise<LoadedModel> {
    const gguf = readGguf(options.path);
    const summary = summarizeGguf(gguf);
    // First, before any weights: a template past its render limits keeps the model from loading.
    const chatTemplate = await ChatTemplate.open(gguf.metadata, options.name ?? basename(options.path), options.chatTemplateLimits);
    try {
      return await this.loadWith(options, summary, chatTemplate);
    } catch (error) {
      await chatTemplate.dispose();
      throw error;
    }
  }

  private async loadWith(options: LoadOptions, summary: GgufSummary, chatTemplate: ChatTemplate): Promise<LoadedModel> {
    const { llama, build } = await getRuntime(this.options.gpu ?? false, this.options.build ?? "auto", this.options.cmakeOptions);
    const threads = resolveThreads(options.threads, llama.cpuMathCores);
    let model: LlamaModel;
    try {
      loadErrors.length = 0;
      model = await llama.loadModel({
        modelPath: options.path,
        gpuLayers: this.options.gpu === "auto" ? "auto" : 0,
        // Mean pooling for embeddings when the model declares none (generation is unaffected).
        ...(summary.poolingType === undefined && summary.architecture
          ? { metadataOverrides: { [summary.architecture]: { pooling_type: 1 } } as never }
          : {}),
        ...(options.signal ? { loadSignal: options.signal } : {}),
      });
    } catch (error) {
      throw classifyLoadError(error, options.path);
    }
    const trainContextSize = model.trainContextSize;
    const contextSize = Math.max(16, Math.min(options.contextSize ?? Math.min(trainContextSize, 4096), trainContextSize));
    const parallel = Math.max(1, options.parallel ?? 1);
    let context: LlamaContext;
    try {
      context = await model.createContext({
        contextSize,
        sequences: parallel,
        threads: { ideal: threads.decode, min: threads.decode },
        batchSize: Math.max(parallel, Math.min(options.batchSize ?? 512, contextSize * parallel)),
        failedCreationRemedy: false,
        ...(options.adapters && options.adapters.length > 0 ? { lora: { adapters: options.adapters.map((a) => ({ filePath: a.path, scale: a.scale })) } } : {}),
        ...(options.signal ? { createSignal: options.signal } : {}),
      });
    } catch (error) {
      await model.dispose();
      throw new EdgeError("model_load_failed", `cannot create a context of ${contextSize} tokens × ${parallel}: ${errorText(error)}`);
    }
    const threadsPerPhase = splitThreadsPerPhase(context, () => info.threads);
    const info: ModelInfo = {
      name: options.name ?? basename(options.path),
      path: options.path,
      architecture: summary.architecture ?? "unknown",
      // llama.cpp rounds the allocation up (to 256); the limit users asked for is what we enforce.
      contextSize: Math.min(contextSize, context.contextSize),
      trainContextSize,
      vocabSize: summary.vocabSize ?? 0,
      embeddingSize: model.embeddingVectorSize,
      parameterCount: summary.parameterCount,
      fileSize: statSync(options.path).size,
      quantization: summary.predominantType,
      hasChatTemplate: summary.chatTemplate !== undefined,
      parallel,
      backend: this.name,
      engineBuild: build,
      threads,
      threadsPerPhase,
    };
    return new NodeLlamaCppModel(llama, model, context, info, chatTemplate, options.grammarCacheLimits ?? DEFAULT_GRAMMAR_CACHE_LIMITS);
  }
}

/**
 * What a compiled grammar holds, estimated: its GBNF text and llama.cpp's parsed
 * rules, about 4 bytes per character of the text (measured: 100 grammars of
 * 3,000-value enums, 16 M characters of text and schema, took 54 MB), plus what
 * its repetitions expand into (`{0,1999}` is 1,999 rules: grammar-expansion.ts).
 */
function grammarBytes(grammar: LlamaGrammar): number {
  return grammar.grammar.length * 4 + gbnfExpansion(grammar.grammar) * BYTES_PER_REPETITION;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function classifyLoadError(error: unknown, path: string): EdgeError {
  const logged = loadErrors.map((line) => /error loading model: (.+)$/.exec(line)?.[1]).filter((x): x is string => x !== undefined).at(-1);
  loadErrors.length = 0;
  const text = logged ?? errorText(error);
  const architecture = /unknown model architecture: '([^']*)'/.exec(text);
  if (architecture) {
    return new EdgeError("unsupported_model", `${path}: architecture "${architecture[1]}" is not supported by this llama.cpp build`);
  }
  if (/unsupported model architecture/i.test(text)) return new EdgeError("unsupported_model", `${path}: ${text}`);
  return new EdgeError("model_load_failed", `${path}: llama.cpp could not load the model: ${text}`);
}

interface Slot {
  sequence: LlamaContextSequence;
  busy: boolean;
}

class NodeLlamaCppModel implements LoadedModel {
  private readonly slots: Slot[];
  private readonly waiters: Array<{ resolve: (slot: Slot) => void; reject: (e: unknown) => void; signal?: AbortSignal }> = [];
  private readonly grammars: GrammarCache<LlamaGrammar>;
  private embeddingContext: Promise<LlamaEmbeddingContext> | undefined;
  private disposed = false;

  constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    readonly info: ModelInfo,
    private readonly chatTemplate: ChatTemplate,
    grammarLimits: GrammarCacheLimits,
  ) {
    this.grammars = new GrammarCache<LlamaGrammar>(grammarLimits, grammarBytes);
    this.slots = [];
    for (let i = 0; i < info.parallel; i++) this.slots.push({ sequence: context.getSequence(), busy: false });
  }

  get activeSequences(): number {
    return this.slots.filter((s) => s.busy).length;
  }

  setThreads(threads: ThreadSetting): void {
    if (!this.info.threadsPerPhase) {
      throw new EdgeError("unsupported", "this node-llama-cpp build cannot change threads of a loaded model; load it with the threads you want");
    }
    this.info.threads = resolveThreads(threads, threads.decode);
  }

  async tokenize(text: string, options: { addBos?: boolean } = {}): Promise<number[]> {
    return this.tokenizeSync(text, options.addBos ?? false);
  }

  private tokenizeSync(text: string, addBos: boolean): Token[] {
    const tokens = this.model.tokenize(text, true);
    const bos = this.model.tokens.bos;
    if (addBos && bos != null && this.model.tokens.shouldPrependBosToken && tokens[0] !== bos) return [bos, ...tokens];
    return tokens;
  }

  async detokenize(tokens: number[]): Promise<string> {
    return this.model.detokenize(tokens as Token[], false);
  }

  async renderChat(messages: ChatMessage[]): Promise<string> {
    return (await this.chatTemplate.render(messages)).text;
  }

  private async promptTokens(request: GenerateRequest): Promise<{ tokens: Token[]; stops: string[]; toolSyntax?: ToolCallSyntax }> {
    if (request.messages && request.messages.length > 0) {
      // Templating happens in chat-template.ts, the same for every backend (see there).
      const { text, stops, toolSyntax } = await this.chatTemplate.render(request.messages, request);
      const bos = this.model.tokens.bos ?? undefined;
      return { tokens: withSingleBos(this.tokenizeSync(text, true), bos ?? undefined) as Token[], stops, toolSyntax };
    }
    if (request.promptTokens) return { tokens: request.promptTokens as Token[], stops: [] };
    return { tokens: this.tokenizeSync(request.prompt ?? "", request.addBos ?? true), stops: [] };
  }

  private async grammarFor(format: ResponseFormat | undefined): Promise<LlamaGrammar | undefined> {
    if (!format || format.type === "text") return undefined;
    return this.grammars.get(JSON.stringify(format), async () => {
      try {
        if (format.type === "json_object") return await this.llama.getGrammarFor("json");
        if (format.type === "grammar") return await this.llama.createGrammar({ grammar: format.gbnf });
        return await this.llama.createGrammarForJsonSchema(format.schema as never);
      } catch (error) {
        if (format.type === "grammar") throw new EdgeError("invalid_request", `grammar: not a valid GBNF grammar: ${errorText(error)}`, { param: "grammar" });
        throw new EdgeError("invalid_request", `response_format: cannot turn the schema into a grammar: ${errorText(error)}`, {
          param: "response_format",
        });
      }
    });
  }

  /** The grammar cache's size (runner health, metrics). */
  grammarCacheStats(): GrammarCacheStats {
    return this.grammars.stats();
  }

  /** Takes the free slot whose cached tokens share the longest prefix with the prompt. */
  private acquireSlot(tokens: Token[], signal?: AbortSignal): Promise<Slot> {
    const free = this.slots.filter((s) => !s.busy);
    if (free.length > 0) {
      let best = free[0]!;
      let bestLength = -1;
      for (const slot of free) {
        const length = slot.sequence.compareContextTokens(tokens).firstDifferentIndex;
        if (length > bestLength) {
          best = slot;
          bestLength = length;
        }
      }
      best.busy = true;
      return Promise.resolve(best);
    }
    return new Promise<Slot>((resolve, reject) => {
      const waiter = { resolve, reject, ...(signal ? { signal } : {}) };
      this.waiters.push(waiter);
      signal?.addEventListener(
        "abort",
        () => {
          const at = this.waiters.indexOf(waiter);
          if (at !== -1) {
            this.waiters.splice(at, 1);
            reject(new EdgeError("aborted", "the request was cancelled while waiting for a free sequence"));
          }
        },
        { once: true },
      );
    });
  }

  private releaseSlot(slot: Slot): void {
    const next = this.waiters.shift();
    if (next) next.resolve(slot);
    else slot.busy = false;
  }

  async generate(request: GenerateRequest, signal?: AbortSignal): Promise<TokenStream> {
    if (this.disposed) throw new EdgeError("model_not_ready", `model ${this.info.name} is unloaded`);
    const startedAt = performance.now();
    const { tokens: promptTokens, stops: templateStops, toolSyntax } = await this.promptTokens(request);
    const tools = toolCalling(request, toolSyntax);
    const contextSize = Math.min(this.info.contextSize, request.contextSize ?? Infinity);
    if (promptTokens.length === 0) throw new EdgeError("invalid_request", "the prompt is empty", { param: "prompt" });
    if (promptTokens.length >= contextSize) {
      throw contextOverflowError(promptTokens.length, contextSize);
    }
    const room = contextSize - promptTokens.length;
    const requested = request.maxTokens ?? -1;
    if (!Number.isInteger(requested) || (requested < 1 && requested !== -1)) {
      throw new EdgeError("invalid_request", `max tokens must be a positive integer or -1, got ${requested}`, { param: "max_tokens" });
    }
    const maxTokens = requested === -1 ? room : Math.min(requested, room);
    for (const id of Object.keys(request.logitBias ?? {})) {
      // node-llama-cpp ignores biases on end-of-generation tokens; refusing is better than silently ignoring.
      if (this.model.isEogToken(Number(id) as Token)) {
        throw new EdgeError("unsupported", `logit_bias: token ${id} ends the generation and cannot be biased by this engine`, { param: "logit_bias" });
      }
    }
    const grammar = await this.grammarFor(tools.responseFormat);
    if (signal?.aborted) throw new EdgeError("aborted", "the request was cancelled");
    const slot = await this.acquireSlot(promptTokens, signal);

    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const stream = new PushTokenStream(() => controller.abort());
    // JSON grammars end in a run of newlines the model cannot leave; their trigger ends generation there.
    const grammarStops = (grammar?.stopGenerationTriggers ?? []).map((t) => t.toString()).filter((t) => t.length > 0);
    const stops = [...(request.stop ?? []), ...templateStops, ...grammarStops];
    void this.run(slot, request, promptTokens, maxTokens, stops, grammar, controller.signal, stream, startedAt).then((outcome) => {
      signal?.removeEventListener("abort", onAbort);
      // Free the slot before the caller learns the result, so a follow-up request finds it free.
      this.releaseSlot(slot);
      if (outcome.ok) stream.end(outcome.result);
      else stream.fail(outcome.error);
    });
    return tools.wrap(stream);
  }

  private async run(
    slot: Slot,
    request: GenerateRequest,
    promptTokens: Token[],
    maxTokens: number,
    stops: string[],
    grammar: LlamaGrammar | undefined,
    signal: AbortSignal,
    stream: PushTokenStream,
    startedAt: number,
  ): Promise<{ ok: true; result: GenerationResult } | { ok: false; error: EdgeError }> {
    const sequence = slot.sequence;
    const matcher = new StopMatcher(stops);
    const generated: Token[] = [];
    let text = "";
    let finishReason: FinishReason = "stop";
    let stoppedBy: string | undefined;
    let firstTokenAt: number | undefined;
    let cached = 0;
    try {
      // Reuse the cached prefix; always evaluate at least one token to get logits.
      cached =
        request.cachePrompt === false ? 0 : Math.min(sequence.compareContextTokens(promptTokens).firstDifferentIndex, promptTokens.length - 1);
      if (sequence.nextTokenIndex > cached) {
        await sequence.eraseContextTokenRanges([{ start: cached, end: sequence.nextTokenIndex }]);
      }
      const wantLogprobs = (request.logprobs ?? 0) > 0;
      const evaluation = sequence.evaluateWithMetadata(
        promptTokens.slice(cached),
        { confidence: wantLogprobs, probabilities: wantLogprobs },
        this.evaluateOptions(request, generated, grammar),
      );
      let pending: Token[] = [];
      for await (const output of evaluation) {
        if (signal.aborted) {
          finishReason = "abort";
          break;
        }
        const token = output.token;
        firstTokenAt ??= performance.now();
        generated.push(token);
        pending.push(token);
        // Hold back tokens until they decode to whole characters.
        const piece = this.model.detokenize(pending, false, generated.slice(Math.max(0, generated.length - pending.length - 4), generated.length - pending.length));
        const chunk: GeneratedChunk = { text: "", tokens: [] };
        if (wantLogprobs) {
          const before = generated.slice(Math.max(0, generated.length - 5), generated.length - 1);
          chunk.logprobs = [this.logprobEntry(token, output as { confidence?: number; probabilities?: Map<Token, number> }, request.logprobs!, before)];
        }
        if (!piece.endsWith("\uFFFD")) {
          chunk.tokens = pending;
          pending = [];
          const { emit, stop } = matcher.push(piece);
          chunk.text = emit;
          if (stop !== undefined) {
            stoppedBy = stop;
            text += emit;
            stream.push(chunk);
            break;
          }
        }
        text += chunk.text;
        if (chunk.text.length > 0 || chunk.logprobs) stream.push(chunk);
        if (generated.length >= maxTokens) {
          finishReason = "length";
          break;
        }
      }
      if (signal.aborted && stoppedBy === undefined) finishReason = "abort";
      if (stoppedBy === undefined && finishReason !== "abort") {
        const rest = matcher.flush();
        if (rest) {
          text += rest;
          stream.push({ text: rest, tokens: [] });
        }
      }
      const endedAt = performance.now();
      return {
        ok: true,
        result: {
        text,
        finishReason,
        ...(stoppedBy !== undefined ? { stoppedBy } : {}),
        timings: makeTimings({
          startedAt,
          firstTokenAt,
          promptDoneAt: firstTokenAt,
          endedAt,
          promptTokens: promptTokens.length,
          cachedPromptTokens: cached,
          completionTokens: generated.length,
        }),
        },
      };
    } catch (error) {
      // A failed evaluation leaves the sequence in an unknown state: start it fresh next time.
      await sequence.clearHistory().catch(() => {});
      return { ok: false, error: toEdgeError(error, "generation failed") };
    }
  }

  private evaluateOptions(request: GenerateRequest, generated: Token[], grammar: LlamaGrammar | undefined) {
    const temperature = request.temperature ?? DEFAULT_SAMPLING.temperature;
    const repeatPenalty = request.repeatPenalty ?? 1;
    const frequencyPenalty = request.frequencyPenalty ?? 0;
    const presencePenalty = request.presencePenalty ?? 0;
    const lastN = request.repeatLastN ?? DEFAULT_SAMPLING.repeatLastN;
    const usePenalty = repeatPenalty !== 1 || frequencyPenalty !== 0 || presencePenalty !== 0;
    let tokenBias: TokenBias | undefined;
    if (request.logitBias && Object.keys(request.logitBias).length > 0) {
      tokenBias = new TokenBias(this.model.tokenizer);
      for (const [id, bias] of Object.entries(request.logitBias)) {
        tokenBias.set(Number(id) as Token, bias <= -100 ? "never" : { logit: bias });
      }
    }
    if (request.ignoreEos) {
      // As llama-server's ignore_eos: end-of-text tokens can never be sampled.
      tokenBias ??= new TokenBias(this.model.tokenizer);
      for (const token of [this.model.tokens.eos, this.model.tokens.eot]) if (token != null) tokenBias.set(token, "never");
    }
    return {
      temperature,
      topK: request.topK ?? DEFAULT_SAMPLING.topK,
      topP: request.topP ?? DEFAULT_SAMPLING.topP,
      minP: request.minP ?? DEFAULT_SAMPLING.minP,
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
      ...(usePenalty
        ? {
            repeatPenalty: {
              punishTokens: () => generated.slice(-lastN),
              maxPunishTokens: lastN,
              penalty: repeatPenalty,
              frequencyPenalty,
              presencePenalty,
            },
          }
        : {}),
      ...(tokenBias ? { tokenBias } : {}),
      ...(grammar ? { grammarEvaluationState: new LlamaGrammarEvaluationState({ model: this.model, grammar }) } : {}),
    };
  }

  /** A token's log-probability and the top alternatives; token texts are decoded after `before` so leading spaces survive. */
  private logprobEntry(
    token: Token,
    output: { confidence?: number; probabilities?: Map<Token, number> },
    topN: number,
    before: Token[],
  ): TokenLogprob & { top: TokenLogprob[] } {
    const text = (id: Token): string => this.model.detokenize([id], true, before);
    const top: TokenLogprob[] = [];
    if (output.probabilities) {
      for (const [id, p] of output.probabilities) {
        if (top.length >= topN || p <= 0) break;
        top.push({ id, token: text(id), logprob: Math.log(p) });
      }
    }
    const p = output.confidence ?? output.probabilities?.get(token) ?? 0;
    return { id: token, token: text(token), logprob: Math.log(p), top };
  }

  async *nextTokenLogprobs(tokens: number[], signal?: AbortSignal): AsyncIterable<Float32Array> {
    if (this.disposed) throw new EdgeError("model_not_ready", `model ${this.info.name} is unloaded`);
    const vocab = this.info.vocabSize;
    if (tokens.length === 0) throw new EdgeError("invalid_request", "no tokens to evaluate");
    if (tokens.length > this.info.contextSize) {
      throw new EdgeError("context_overflow", `${tokens.length} tokens do not fit the context of ${this.info.contextSize}`, {
        details: { promptTokens: tokens.length, contextSize: this.info.contextSize },
      });
    }
    const bad = tokens.find((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
    if (bad !== undefined) throw new EdgeError("invalid_request", `token id ${bad} is outside the vocabulary of ${vocab}`);
    const slot = await this.acquireSlot([], signal);
    try {
      await slot.sequence.clearHistory();
      // Full distributions come back as a Map per position: evaluate a few positions per call
      // so no more than ~256K entries are alive at once.
      const step = Math.max(1, Math.floor(262_144 / Math.max(1, vocab)));
      for (let start = 0; start < tokens.length; start += step) {
        if (signal?.aborted) throw new EdgeError("aborted", "the evaluation was cancelled");
        const part = tokens.slice(start, start + step).map(
          (token) => [token as Token, { generateNext: { probabilities: true, options: { temperature: 0 } } }] as const,
        );
        const results = await slot.sequence.controlledEvaluate(part as never);
        for (let i = 0; i < part.length; i++) {
          const probabilities = results[i]?.next.probabilities;
          if (!probabilities) throw new EdgeError("internal", `llama.cpp returned no distribution for position ${start + i}`);
          const logprobs = new Float32Array(vocab).fill(Number.NEGATIVE_INFINITY);
          for (const [id, p] of probabilities) if (id < vocab) logprobs[id] = Math.log(p);
          yield logprobs;
        }
      }
    } finally {
      await slot.sequence.clearHistory().catch(() => {});
      this.releaseSlot(slot);
    }
  }

  async embed(inputs: string[], signal?: AbortSignal, options: EmbedOptions = {}): Promise<EmbeddingResult> {
    if (this.disposed) throw new EdgeError("model_not_ready", `model ${this.info.name} is unloaded`);
    this.embeddingContext ??= this.model
      .createEmbeddingContext({ contextSize: this.info.contextSize, threads: this.info.threads.prompt })
      .catch((error: unknown) => {
        this.embeddingContext = undefined;
        throw new EdgeError("model_load_failed", `cannot create an embedding context: ${errorText(error)}`);
      });
    const context = await this.embeddingContext;
    const vectors: number[][] = [];
    let promptTokens = 0;
    for (const input of inputs) {
      if (signal?.aborted) throw new EdgeError("aborted", "the request was cancelled");
      let tokens = this.tokenizeSync(input, true);
      if (options.truncate && tokens.length >= this.info.contextSize) tokens = tokens.slice(0, this.info.contextSize - 1);
      if (tokens.length >= this.info.contextSize) {
        throw new EdgeError("context_overflow", `an input is ${tokens.length} tokens but the context holds ${this.info.contextSize}`, {
          details: { promptTokens: tokens.length, contextSize: this.info.contextSize },
        });
      }
      promptTokens += tokens.length;
      const embedding = await context.getEmbeddingFor(tokens);
      vectors.push(unitVector(embedding.vector));
    }
    return { vectors, promptTokens };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new EdgeError("model_not_ready", `model ${this.info.name} was unloaded`));
    const embedding = this.embeddingContext;
    this.embeddingContext = undefined;
    if (embedding) await embedding.then((c) => c.dispose()).catch(() => {});
    await this.chatTemplate.dispose().catch(() => {});
    await this.context.dispose().catch(() => {});
    await this.model.dispose().catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
