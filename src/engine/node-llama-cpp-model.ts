/**
 * A model loaded by the node-llama-cpp engine: generation on its context's
 * sequences (slots: node-llama-cpp-slots.ts), or on the context of the adapter
 * set a request selects (node-llama-cpp-adapter-contexts.ts), with stops,
 * grammars, logprobs and tool calls; next-token distributions for evaluation;
 * embeddings. (Under 400 lines: the LoadedModel interface on one model; runtime,
 * slots, adapter contexts, sampling and threads are its siblings.)
 */
import {
  type Llama,
  type LlamaContext,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import { EdgeError, toEdgeError } from "../errors.js";
import { withSingleBos, type ChatTemplate } from "./chat-template.js";
import { contextOverflowError } from "./context-overflow.js";
import { BYTES_PER_REPETITION, gbnfExpansion } from "./grammar-expansion.js";
import { GrammarCache, type GrammarCacheLimits, type GrammarCacheStats } from "./grammar-cache.js";
import { errorText } from "./node-llama-cpp-runtime.js";
import { logprobEntry, samplingOptions } from "./node-llama-cpp-sampling.js";
import { adapterSetOf, type AdapterContexts, type AdapterSet } from "./node-llama-cpp-adapter-contexts.js";
import { SequenceSlots, type Slot } from "./node-llama-cpp-slots.js";
import { StopMatcher } from "./stop-matcher.js";
import { resolveThreads } from "./thread-setting.js";
import { makeTimings, PushTokenStream } from "./token-stream.js";
import { toolCalling } from "./tool-calling.js";
import type { ToolCallSyntax } from "./tool-call-syntax.js";
import type {
  ChatMessage,
  EmbeddingResult,
  EmbedOptions,
  FinishReason,
  GenerateRequest,
  GeneratedChunk,
  GenerationResult,
  LoadedModel,
  ModelInfo,
  ResponseFormat,
  ThreadSetting,
  TokenStream,
} from "./types.js";
import { unitVector } from "./unit-vector.js";

/**
 * What a compiled grammar holds, estimated: its GBNF text and llama.cpp's parsed
 * rules, about 4 bytes per character of the text (measured: 100 grammars of
 * 3,000-value enums, 16 M characters of text and schema, took 54 MB), plus what
 * its repetitions expand into (`{0,1999}` is 1,999 rules: grammar-expansion.ts).
 */
function grammarBytes(grammar: LlamaGrammar): number {
  return grammar.grammar.length * 4 + gbnfExpansion(grammar.grammar) * BYTES_PER_REPETITION;
}

export class NodeLlamaCppModel implements LoadedModel {
  private readonly slots: SequenceSlots;
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
    /** The contexts of per-request adapter sets, when the model has selectable adapters (and how many it has). */
    private readonly adapters?: { contexts: AdapterContexts; count: number },
  ) {
    this.grammars = new GrammarCache<LlamaGrammar>(grammarLimits, grammarBytes);
    this.slots = new SequenceSlots(context, info.parallel);
  }

  get activeSequences(): number {
    return this.slots.busy + (this.adapters?.contexts.busy ?? 0);
  }

  /** Adapter contexts alive now, and created and evicted since load (tests, health). */
  adapterContextStats(): { alive: number; created: number; evicted: number } {
    const c = this.adapters?.contexts;
    return { alive: c?.size ?? 0, created: c?.created ?? 0, evicted: c?.evicted ?? 0 };
  }

  /** A sequence for the request: of the base context, or of its adapter set's context. */
  private async acquireSlot(set: AdapterSet, tokens: Token[], signal?: AbortSignal): Promise<{ slot: Slot; release: () => void }> {
    if (set.length === 0 || !this.adapters) {
      const slot = await this.slots.acquire(tokens, signal);
      return { slot, release: () => this.slots.release(slot) };
    }
    return this.adapters.contexts.acquire(set, tokens, signal);
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

  async generate(request: GenerateRequest, signal?: AbortSignal): Promise<TokenStream> {
    if (this.disposed) throw new EdgeError("model_not_ready", `model ${this.info.name} is unloaded`);
    if (request.typicalP !== undefined && request.typicalP < 1) {
      throw new EdgeError("unsupported", "typical_p: the node-llama-cpp engine has no locally typical sampler; serve the model on the llama-server engine (engine.backend: llama-server) or leave typical_p at 1", { param: "typical_p" });
    }
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
    const adapterSet = adapterSetOf(request, this.adapters?.count ?? 0, this.info.name);
    for (const id of Object.keys(request.logitBias ?? {})) {
      // node-llama-cpp ignores biases on end-of-generation tokens; refusing is better than silently ignoring.
      if (this.model.isEogToken(Number(id) as Token)) {
        throw new EdgeError("unsupported", `logit_bias: token ${id} ends the generation and cannot be biased by this engine`, { param: "logit_bias" });
      }
    }
    const grammar = await this.grammarFor(tools.responseFormat);
    if (signal?.aborted) throw new EdgeError("aborted", "the request was cancelled");
    const { slot, release } = await this.acquireSlot(adapterSet, promptTokens, signal);

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
      release();
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
        samplingOptions(this.model, request, generated, grammar),
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
          chunk.logprobs = [logprobEntry(this.model, token, output as { confidence?: number; probabilities?: Map<Token, number> }, request.logprobs!, before)];
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
    const slot = await this.slots.acquire([], signal);
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
      this.slots.release(slot);
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
    const unloaded = new EdgeError("model_not_ready", `model ${this.info.name} was unloaded`);
    this.slots.rejectWaiters(unloaded);
    await this.adapters?.contexts.dispose(unloaded);
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
