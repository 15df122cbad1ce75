/**
 * A runner backed by llama.cpp's own server: one llama-server process serves
 * generation (its `--parallel` slots with continuous batching), and a second
 * one, started on the first embed call, serves embeddings (llama-server
 * refuses completions when started with `--embeddings`).
 *
 * Prompts are built here, not in llama-server: chat messages go through the
 * shared chat template (chat-template.ts), so both backends evaluate the same
 * text, and llama-server is started with the built-in chatml template so it
 * never evaluates the model's own (it renders its template at start-up). Requests go to the native `/completion` endpoint, streamed; closing a
 * stream's connection makes llama-server cancel its task and free the slot.
 * When the process dies, every request it held fails with runner_crashed and
 * the exit listeners run (the model pool restarts it).
 *
 * (Over 350 lines: it is the Runner interface over one pair of llama-server
 * processes — start-up checks, generation, embeddings, tokenizer calls, health,
 * adapters and exit handling share those processes and their state. The
 * command line, the process client, the completion body, the slot prefixes and
 * the prefix cache are their own modules.)
 */
import { basename } from "node:path";
import { statSync } from "node:fs";
import { EdgeError, isEdgeError, toEdgeError } from "../../errors.js";
import { logger, type LogLevel } from "../../log.js";
import { readGguf } from "../../gguf/gguf-reader.js";
import { summarizeGguf, type GgufSummary } from "../../gguf/gguf-summary.js";
import { metaNumber, type GgufMetadata } from "../../gguf/gguf-values.js";
import { ChatTemplate } from "../chat-template.js";
import type { Runner, RunnerExit, RunnerFactory, RunnerHealth, RunnerSpec, RunnerState } from "../runner.js";
import { abortError, describeExit, RunnerLifecycle } from "../runner-lifecycle.js";
import { resolveThreads } from "../thread-setting.js";
import { unitVector } from "../unit-vector.js";
import { PushTokenStream } from "../token-stream.js";
import type { ChatMessage, EmbeddingResult, EmbedOptions, EngineBackend, GenerateRequest, LoadedModel, LoadOptions, ModelInfo, TokenStream } from "../types.js";
import { toolCalling } from "../tool-calling.js";
import type { ToolCallSyntax } from "../tool-call-syntax.js";
import { checkAdapterForBase, readLoraAdapter } from "../../adapt/lora-adapter.js";
import { chunkFromEvent, completionBody, finishReasonOf, joinChunks, refusalError, timingsOf, type CompletionPrompt } from "./completion-body.js";
import { inspectLlamaServer, type LlamaServerBinary } from "./llama-server-binary.js";
import { modelUsesMmap } from "../weight-residency.js";
import { LlamaServerHttpError, LlamaServerProcess, type ProcessExit, type SseStream } from "./llama-server-process.js";
import { contextOverflowError } from "../context-overflow.js";
import { modelMemoryBudget } from "../sandbox/model-memory-budget.js";
import type { RunnerSandbox } from "../sandbox/runner-sandbox.js";
import { RunnerPrefixCache } from "./runner-prefix-cache.js";
import type { PrefixCacheFigures } from "../runner.js";

export interface LlamaServerRunnerOptions {
  /** The llama-server binary (checked with inspectLlamaServer). */
  binary: string;
  /** Where the binary path came from, for error messages (e.g. "engine.llama_server"). */
  binarySource?: string;
  /** How long loading may take, in ms. Default 120000. */
  startTimeoutMs?: number;
  /** How long a process gets to exit after SIGTERM, in ms, before SIGKILL. Default 5000. */
  stopTimeoutMs?: number;
  /** Confines each llama-server process (src/engine/sandbox); absent: plain child processes. */
  sandbox?: RunnerSandbox;
}

interface InFlight {
  stream: PushTokenStream | undefined;
  sse: SseStream | undefined;
  controller: AbortController;
  reject: (error: unknown) => void;
}

let runnerCount = 0;

/** A chat parser that accepts any text (llama.cpp's serialized PEG arena: one epsilon rule). */
export const EMPTY_CHAT_PARSER = { chat_parser: JSON.stringify({ parsers: [{ type: "epsilon" }], rules: {}, root: 0 }) };

export class LlamaServerRunner implements Runner {
  readonly id: string;
  readonly backend = "llama-server";
  private main: LlamaServerProcess | undefined;
  private embedder: Promise<LlamaServerProcess> | undefined;
  private embedQueue: Promise<unknown> = Promise.resolve();
  private loadedInfo: ModelInfo | undefined;
  private chatTemplate: ChatTemplate | undefined;
  private metadata: GgufMetadata | undefined;
  private summary: GgufSummary | undefined;
  /** Context tokens of each llama-server slot (may exceed what we enforce, info.contextSize). */
  private slotContext = 0;
  private eogTokens: Promise<Set<number>> | undefined;
  /** Fields every /completion body carries (see probeCompletion). */
  private completionExtras: Record<string, unknown> = {};
  private readonly inFlight = new Set<InFlight>();
  private readonly calls = new Set<AbortController>();
  private readonly lifecycle: RunnerLifecycle;
  private binaryInfo: LlamaServerBinary | undefined;
  private readonly prefixCache: RunnerPrefixCache;

  constructor(
    private readonly spec: RunnerSpec,
    private readonly options: LlamaServerRunnerOptions,
  ) {
    this.id = `${spec.name}#ls${++runnerCount}`;
    this.lifecycle = new RunnerLifecycle(spec.name, (error) => this.failInFlight(error));
    this.prefixCache = new RunnerPrefixCache(spec.prefixCache, {
      label: this.label,
      chatTemplate: () => this.chatTemplate!,
      addsBos: () => this.addsBos(),
      completionExtras: () => this.completionExtras,
      stopped: () => Boolean(this.lifecycle.stopRequested || this.lifecycle.exited),
    });
  }

  get state(): RunnerState {
    return this.lifecycle.state;
  }

  get pid(): number | undefined {
    return this.main?.pid;
  }

  get info(): ModelInfo {
    if (!this.loadedInfo) throw new EdgeError("model_not_ready", `runner ${this.id} has not loaded its model yet`);
    return this.loadedInfo;
  }

  get activeSequences(): number {
    return this.inFlight.size;
  }

  private get label(): string {
    return `runner ${this.id} (${this.spec.name})`;
  }

  private get logLevel(): LogLevel {
    return this.spec.logLevel ?? "warn";
  }

  async start(): Promise<ModelInfo> {
    if (this.main) throw new EdgeError("internal", `runner ${this.id} was already started`);
    try {
      const binary = await inspectLlamaServer(this.options.binary, this.options.binarySource ?? "llama-server");
      this.binaryInfo = binary;
      const gguf = readGguf(this.spec.path);
      this.metadata = gguf.metadata;
      this.summary = summarizeGguf(gguf);
      const name = this.spec.name || basename(this.spec.path);
      // Before the process starts: a template past its render limits keeps the model from loading.
      this.chatTemplate = await ChatTemplate.open(gguf.metadata, name, this.spec.chatTemplateLimits);
      const train = this.summary.contextLength ?? 4096;
      const contextSize = Math.max(16, Math.min(this.spec.contextSize ?? Math.min(train, 4096), train));
      const parallel = Math.max(1, this.spec.parallel ?? 1);
      const threads = resolveThreads(this.spec.threads);
      // Nothing unvalidated reaches llama.cpp: each adapter is checked against this model before the process starts.
      const adapters: string[] = [];
      for (const adapter of this.loadedAdapters()) {
        await checkAdapterForBase(readLoraAdapter(adapter.path), gguf, this.spec.path, adapter.path);
        adapters.push(adapter.path);
      }
      const main = new LlamaServerProcess({
        binary,
        launch: {
          modelPath: this.spec.path,
          contextSize,
          parallel,
          threads,
          batchSize: Math.max(parallel, this.spec.batchSize ?? 512),
          mmap: modelUsesMmap(gguf, { backend: "llama-server", llamaServer: binary.path, ...(this.spec.mmap ? { mmap: this.spec.mmap } : {}) }),
          ...(adapters.length > 0 ? { adapters } : {}),
        },
        label: this.label,
        logLevel: this.logLevel,
        startTimeoutMs: this.options.startTimeoutMs ?? 120_000,
        ...this.sandboxOptions(contextSize, parallel),
      });
      this.main = main;
      main.onExit((exit) => this.handleExit(exit));
      await main.start();
      const props = await main.call<{ total_slots?: number; default_generation_settings?: { n_ctx?: number } }>("GET", "/props");
      this.slotContext = props.default_generation_settings?.n_ctx ?? contextSize;
      await this.probeCompletion(main);
      await this.prefixCache.warm(main, binary, props.total_slots ?? parallel, this.options.startTimeoutMs ?? 120_000);
      this.loadedInfo = {
        name,
        path: this.spec.path,
        architecture: this.summary.architecture ?? "unknown",
        contextSize: Math.min(contextSize, this.slotContext),
        trainContextSize: train,
        vocabSize: this.summary.vocabSize ?? 0,
        embeddingSize: this.summary.embeddingLength ?? 0,
        parameterCount: this.summary.parameterCount,
        fileSize: statSync(this.spec.path).size,
        quantization: this.summary.predominantType,
        hasChatTemplate: this.summary.chatTemplate !== undefined,
        parallel: props.total_slots ?? parallel,
        backend: this.backend,
        engineBuild: `llama-server ${binary.version} (${binary.path})`,
        threads,
        threadsPerPhase: true,
      };
      const exited = this.lifecycle.exited;
      if (exited) throw exited.error ?? new EdgeError("model_load_failed", `llama-server for ${name} exited while loading`);
      this.lifecycle.markReady();
      return this.loadedInfo;
    } catch (error) {
      this.lifecycle.requestStop();
      await this.stopProcesses();
      this.lifecycle.exit({ code: null, signal: null });
      throw toEdgeError(error, `cannot start llama-server for ${this.spec.name}`);
    }
  }

  async generate(request: GenerateRequest, signal?: AbortSignal): Promise<TokenStream> {
    const main = this.ready(signal);
    const info = this.info;
    const startedAt = performance.now();
    const requested = request.maxTokens ?? -1;
    if (!Number.isInteger(requested) || (requested < 1 && requested !== -1)) {
      throw new EdgeError("invalid_request", `max tokens must be a positive integer or -1, got ${requested}`, { param: "max_tokens" });
    }
    if (request.logitBias) await this.refuseEndOfTextBias(request.logitBias);
    const prompt = await this.completionPrompt(request, requested, signal);
    const tools = toolCalling(request, prompt.toolSyntax);
    this.prefixCache.noteSystemPrompt(request);

    const controller = new AbortController();
    const entry: InFlight = { stream: undefined, sse: undefined, controller, reject: () => {} };
    const onAbort = (): void => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    this.inFlight.add(entry);
    const release = (): void => {
      signal?.removeEventListener("abort", onAbort);
      this.inFlight.delete(entry);
    };
    let sse: SseStream;
    try {
      sse = await main.stream("/completion", { ...completionBody({ ...request, responseFormat: tools.responseFormat }, prompt), ...this.completionExtras, ...this.loraField(request) }, controller.signal);
    } catch (error) {
      release();
      throw await this.translate(error, signal, info.contextSize);
    }
    entry.sse = sse;
    const stream = new PushTokenStream(() => controller.abort());
    entry.stream = stream;
    controller.signal.addEventListener("abort", () => sse.close(), { once: true });
    void this.pump(sse, stream, controller.signal, startedAt, typeof prompt.prompt === "string" ? undefined : prompt.prompt.length).finally(release);
    return tools.wrap(stream);
  }

  /** Moves one stream's events into the engine's stream; ends it with the result, an abort, or an error. */
  private async pump(sse: SseStream, stream: PushTokenStream, signal: AbortSignal, startedAt: number, promptTokens: number | undefined): Promise<void> {
    let text = "";
    let completionTokens = 0;
    let firstTokenAt: number | undefined;
    let final: Record<string, unknown> | undefined;
    try {
      for await (const batch of sse) {
        // The tokens of one read leave as one chunk: one wake-up and one write downstream per burst.
        const chunks = [];
        for (const event of batch) {
          if (event.error) throw refusalError(500, event.error as LlamaServerHttpError["body"], this.info.contextSize);
          const chunk = chunkFromEvent(event);
          if (chunk) chunks.push(chunk);
          if (event.stop === true) {
            final = event;
            break;
          }
        }
        const chunk = joinChunks(chunks);
        if (chunk) {
          firstTokenAt ??= performance.now();
          text += chunk.text;
          completionTokens += chunk.tokens.length;
          stream.push(chunk);
        }
        if (final) break;
      }
      if (!final && !signal.aborted) throw new EdgeError("internal", "llama-server ended the stream without a final event");
    } catch (error) {
      if (!signal.aborted) {
        stream.fail(await this.translate(error, undefined, this.info.contextSize));
        return;
      }
    }
    const endedAt = performance.now();
    if (!final) {
      stream.end({
        text,
        finishReason: "abort",
        timings: timingsOf({ startedAt, firstTokenAt, endedAt }, undefined, { promptTokens, completionTokens }),
      });
      return;
    }
    const timings = timingsOf({ startedAt, firstTokenAt: firstTokenAt ?? endedAt, endedAt }, final.timings as never, { promptTokens, completionTokens });
    this.prefixCache.countReuse(timings.promptTokens, timings.cachedPromptTokens);
    stream.end({ text, ...finishReasonOf(final), timings });
  }

  /**
   * The prompt llama-server gets. A raw prompt or a rendered chat goes as text
   * (llama-server tokenizes it with BOS and special tokens, one round trip), unless
   * the request needs its token count first: a per-request context below the
   * slot's, or no BOS. Then it is tokenized here and checked against the context.
   */
  private async completionPrompt(request: GenerateRequest, requested: number, signal: AbortSignal | undefined): Promise<CompletionPrompt> {
    const info = this.info;
    let text: string;
    let extraStops: string[] = [];
    let toolSyntax: ToolCallSyntax | undefined;
    let addBos = request.addBos ?? true;
    if (request.messages && request.messages.length > 0) {
      const rendered = await this.chatTemplate!.render(request.messages, request);
      text = rendered.text;
      toolSyntax = rendered.toolSyntax;
      extraStops = rendered.stops;
      addBos = true;
      // A template that writes the BOS text itself: llama-server adds the token, so it is not written twice.
      const bos = this.chatTemplate!.bos;
      if (bos && text.startsWith(bos) && this.addsBos()) text = text.slice(bos.length);
    } else {
      text = request.prompt ?? "";
    }
    const contextSize = Math.min(info.contextSize, request.contextSize ?? Infinity);
    if (addBos && contextSize >= this.slotContext && !request.promptTokens) {
      return { prompt: text, nPredict: requested, extraStops, toolSyntax };
    }
    const tokens = request.promptTokens && !request.messages?.length ? request.promptTokens : await this.tokenizeText(text, addBos, signal);
    if (tokens.length === 0) throw new EdgeError("invalid_request", "the prompt is empty", { param: "prompt" });
    if (tokens.length >= contextSize) {
      throw contextOverflowError(tokens.length, contextSize);
    }
    const room = contextSize - tokens.length;
    return { prompt: tokens, nPredict: requested === -1 ? room : Math.min(requested, room), extraStops, toolSyntax };
  }

  /** The prefix-cache counters and what the warm prefixes hold. */
  prefixCacheFigures(): PrefixCacheFigures {
    return this.prefixCache.figures();
  }

  private addsBos(): boolean {
    const flag = this.metadata?.["tokenizer.ggml.add_bos_token"];
    return flag === undefined ? metaNumber(this.metadata ?? {}, "tokenizer.ggml.bos_token_id") !== undefined : flag === true;
  }

  /**
   * One generated token at start, to learn two things about this llama-server:
   * - whether it takes an empty `chat_parser`. Its /completion endpoint runs the
   *   text generated so far through a chat-message parser after every token, and
   *   fails the whole request when that text is not valid UTF-8 (random-weight
   *   models, byte-level vocabularies); the parsed message is not part of
   *   /completion's answer, so an empty parser changes nothing we read;
   * - the model's end-of-generation tokens (what `ignore_eos` bans), for the logit-bias rule below.
   */
  private async probeCompletion(main: LlamaServerProcess): Promise<void> {
    type Reply = { generation_settings?: { logit_bias?: Array<{ token: number }> } };
    const body = { prompt: " ", n_predict: 1, ignore_eos: true, cache_prompt: false };
    let reply: Reply;
    try {
      reply = await main.call<Reply>("POST", "/completion", { ...body, ...EMPTY_CHAT_PARSER });
      this.completionExtras = EMPTY_CHAT_PARSER;
    } catch (error) {
      if (!(error instanceof LlamaServerHttpError) || error.status !== 400) throw error;
      reply = await main.call<Reply>("POST", "/completion", body);
      this.completionExtras = {};
    }
    this.eogTokens = Promise.resolve(new Set((reply.generation_settings?.logit_bias ?? []).map((b) => b.token)));
  }

  /**
   * As the node-llama-cpp backend: a bias on an end-of-generation token is refused
   * (that engine cannot apply one), so a request means the same on both backends.
   * The model's end-of-generation tokens are what llama-server bans for `ignore_eos`.
   */
  private async refuseEndOfTextBias(bias: Record<number, number>): Promise<void> {
    if (Object.keys(bias).length === 0) return;
    const eog = (await this.eogTokens) ?? new Set<number>();
    for (const id of Object.keys(bias)) {
      if (eog.has(Number(id))) {
        throw new EdgeError("unsupported", `logit_bias: token ${id} ends the generation and cannot be biased by this engine`, { param: "logit_bias" });
      }
    }
  }

  async embed(inputs: string[], signal?: AbortSignal, options: EmbedOptions = {}): Promise<EmbeddingResult> {
    this.ready(signal);
    const contextSize = this.info.contextSize;
    const batches: number[][] = [];
    let promptTokens = 0;
    for (const input of inputs) {
      let tokens = await this.tokenizeText(input, true, signal);
      if (options.truncate && tokens.length >= contextSize) tokens = tokens.slice(0, contextSize - 1);
      if (tokens.length >= contextSize) {
        throw new EdgeError("context_overflow", `an input is ${tokens.length} tokens but the context holds ${contextSize}`, {
          details: { promptTokens: tokens.length, contextSize },
        });
      }
      promptTokens += tokens.length;
      batches.push(tokens);
    }
    // One input at a time through the embeddings process (one slot holding the whole context), in order.
    const run = this.embedQueue.then(async () => {
      const embedder = await this.embeddingProcess();
      const vectors: number[][] = [];
      for (const tokens of batches) {
        if (signal?.aborted) throw new EdgeError("aborted", "the request was cancelled");
        const reply = await this.tracked(signal, (s) => embedder.call<Array<{ embedding: number[][] | number[] }>>("POST", "/embeddings", { content: tokens }, s));
        const first = reply[0]?.embedding;
        const vector = (Array.isArray(first?.[0]) ? first[0] : first) as number[] | undefined;
        if (!vector || vector.length === 0) throw new EdgeError("internal", "llama-server returned no embedding");
        vectors.push(unitVector(vector));
      }
      return vectors;
    });
    this.embedQueue = run.catch(() => {});
    try {
      return { vectors: await run, promptTokens };
    } catch (error) {
      throw await this.translate(error, signal, contextSize);
    }
  }

  /**
   * Every loaded adapter's scale for one request: the ones it selects at their scale, the others at 0. Always sent
   * when adapters are loaded: llama-server gives a request without `lora` the adapters' load-time scale (1), even
   * with --lora-init-without-apply.
   */
  private loraField(request: GenerateRequest): { lora?: Array<{ id: number; scale: number }> } {
    const loaded = this.loadedAdapters();
    const count = loaded.length;
    if (count === 0) {
      if (request.adapters && request.adapters.length > 0) throw new EdgeError("invalid_request", `${this.spec.name} has no adapters to select`, { param: "adapters" });
      return {};
    }
    const chosen = new Map((request.adapters ?? []).map((a) => [a.index, a.scale ?? 1]));
    for (const index of chosen.keys()) {
      if (!Number.isInteger(index) || index < 0 || index >= count) throw new EdgeError("invalid_request", `adapter ${index} is not loaded (${count} are)`, { param: "adapters" });
    }
    return { lora: loaded.map((adapter, id) => ({ id, scale: chosen.get(id) ?? adapter.scale })) };
  }

  /** The adapters the process loads: the selectable ones (scale 0 unless a request picks them), then the ones applied to every request. */
  private loadedAdapters(): Array<{ path: string; scale: number }> {
    return [...(this.spec.selectableAdapters ?? []).map((a) => ({ path: a.path, scale: 0 })), ...(this.spec.adapters ?? [])];
  }

  /** The sandbox and the model's memory estimate (its data limit) for one llama-server process. */
  private sandboxOptions(contextSize: number, sequences: number): { sandbox?: RunnerSandbox; memoryBytes?: number } {
    if (!this.options.sandbox) return {};
    const memoryBytes = modelMemoryBudget(this.spec.path, contextSize, sequences);
    return { sandbox: this.options.sandbox, ...(memoryBytes ? { memoryBytes } : {}) };
  }

  /** The embeddings process, started on first use (and again after it died). */
  private embeddingProcess(): Promise<LlamaServerProcess> {
    if (!this.embedder) {
      const info = this.info;
      const process = new LlamaServerProcess({
        binary: this.binaryInfo!,
        launch: {
          modelPath: this.spec.path,
          contextSize: info.contextSize,
          parallel: 1,
          threads: info.threads,
          batchSize: info.contextSize,
          embeddings: { meanPooling: this.summary?.poolingType === undefined },
        },
        label: `${this.label} embeddings`,
        logLevel: this.logLevel,
        startTimeoutMs: this.options.startTimeoutMs ?? 120_000,
        ...this.sandboxOptions(info.contextSize, 1),
      });
      const started = process.start().then(() => process);
      this.embedder = started;
      process.onExit((exit) => {
        if (this.embedder === started) this.embedder = undefined;
        if (!this.lifecycle.stopRequested && process.pid !== undefined) logger.warn(`${this.label}: the embeddings process exited (${describeExit(exit)})`);
      });
      started.catch(() => {
        if (this.embedder === started) this.embedder = undefined;
      });
    }
    return this.embedder;
  }

  async tokenize(text: string, options: { addBos?: boolean } = {}): Promise<number[]> {
    this.ready();
    return this.tokenizeText(text, options.addBos ?? false);
  }

  private async tokenizeText(text: string, addBos: boolean, signal?: AbortSignal): Promise<number[]> {
    try {
      const reply = await this.tracked(signal, (s) =>
        this.main!.call<{ tokens: number[] }>("POST", "/tokenize", { content: text, add_special: addBos, parse_special: true }, s),
      );
      return reply.tokens;
    } catch (error) {
      throw await this.translate(error, signal, this.info.contextSize);
    }
  }

  async detokenize(tokens: number[]): Promise<string> {
    this.ready();
    try {
      const reply = await this.tracked(undefined, (s) => this.main!.call<{ content: string }>("POST", "/detokenize", { tokens }, s));
      return reply.content;
    } catch (error) {
      throw await this.translate(error, undefined, this.info.contextSize);
    }
  }

  async renderChat(messages: ChatMessage[]): Promise<string> {
    this.ready();
    return (await this.chatTemplate!.render(messages)).text;
  }

  async health(timeoutMs = 5000): Promise<RunnerHealth> {
    const main = this.ready();
    const started = performance.now();
    const slots = await main.call<Array<{ is_processing?: boolean }>>("GET", "/slots", undefined, AbortSignal.timeout(timeoutMs));
    return {
      ok: true,
      latencyMs: performance.now() - started,
      activeSequences: slots.filter((s) => s.is_processing).length,
      rssBytes: main.rssBytes(),
      uptimeMs: performance.now() - main.startedAt,
      messagesSent: 0,
      eventsSent: 0,
    };
  }

  /**
   * llama-server's Prometheus text (its `/metrics`: tokens, slots, KV cache), for
   * re-export under edgelm's names by the metrics layer.
   */
  async metricsText(timeoutMs = 2000): Promise<string> {
    const main = this.ready();
    return this.tracked(AbortSignal.timeout(timeoutMs), (s) => main.text("/metrics", s));
  }

  onExit(listener: (exit: RunnerExit) => void): () => void {
    return this.lifecycle.onExit(listener);
  }

  kill(signal: NodeJS.Signals = "SIGTERM", reason?: string): void {
    if (reason !== undefined) this.lifecycle.noteKill(reason);
    this.main?.kill(signal);
  }

  async dispose(): Promise<void> {
    if (!this.main || this.lifecycle.exited) return;
    this.lifecycle.requestStop({ stopping: true });
    await this.stopProcesses();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  private async stopProcesses(): Promise<void> {
    const timeoutMs = this.options.stopTimeoutMs ?? 5000;
    const embedder = this.embedder?.catch(() => undefined);
    this.embedder = undefined;
    await Promise.all([
      this.chatTemplate?.dispose(),
      this.main?.stop(timeoutMs),
      embedder?.then((p) => p?.stop(timeoutMs)),
    ]);
  }

  /** The main process when new work may start; throws why not (not ready, crashed, cancelled). */
  private ready(signal?: AbortSignal): LlamaServerProcess {
    const refused = this.lifecycle.refusal(this.id, signal);
    if (refused) throw refused;
    if (!this.main) throw new EdgeError("model_not_ready", `runner ${this.id} is ${this.state}`);
    return this.main;
  }

  /** Runs a call that a crash of the runner, or `signal`, cancels. */
  private async tracked<T>(signal: AbortSignal | undefined, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    this.calls.add(controller);
    try {
      return await call(controller.signal);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.calls.delete(controller);
    }
  }

  /**
   * What a failed call means: the caller's cancellation, the runner's crash
   * (the connection broke because the process died), llama-server refusing the
   * request, or a broken connection to a live process.
   */
  private async translate(error: unknown, signal: AbortSignal | undefined, contextSize: number): Promise<EdgeError> {
    if (isEdgeError(error)) return error;
    if (signal?.aborted) return abortError(signal);
    if (error instanceof LlamaServerHttpError) return refusalError(error.status, error.body, contextSize);
    // A dying process breaks its connections a moment before its exit is seen.
    if (this.main && !this.main.exit) await Promise.race([this.main.exited, new Promise((r) => setTimeout(r, 500))]);
    const exitError = this.lifecycle.exited?.error;
    if (exitError) return exitError;
    if (this.lifecycle.stopRequested) return this.lifecycle.stoppedError();
    return new EdgeError("internal", `lost the connection to llama-server for ${this.spec.name}: ${(error as Error).message}`);
  }

  private handleExit(exit: ProcessExit): void {
    if (this.lifecycle.exited) return;
    if (!this.lifecycle.stopRequested) logger.warn(`${this.label} (pid ${this.main?.pid}) exited: ${describeExit(exit)}${this.main?.lastLines ? ` — ${this.main.lastLines}` : ""}`);
    this.lifecycle.exit(exit);
    void this.stopProcesses();
  }

  /** Closes every stream and call this runner holds (its process is gone). */
  private failInFlight(error: EdgeError): void {
    for (const entry of this.inFlight) {
      entry.sse?.close();
      entry.stream?.fail(error);
    }
    this.inFlight.clear();
    for (const controller of this.calls) controller.abort();
  }
}

/** Makes llama-server runners from one binary. */
export class LlamaServerRunnerFactory implements RunnerFactory {
  readonly backend = "llama-server";
  constructor(private readonly options: LlamaServerRunnerOptions) {}

  create(spec: RunnerSpec): Runner {
    return new LlamaServerRunner(spec, this.options);
  }
}

/**
 * llama-server as an engine backend for commands that load a model themselves
 * (run, bench, eval): the model lives in a llama-server child process.
 */
export class LlamaServerBackend implements EngineBackend {
  readonly name = "llama-server";
  constructor(private readonly options: LlamaServerRunnerOptions & { logLevel?: LogLevel }) {}

  async load(options: LoadOptions): Promise<LoadedModel> {
    const { signal, name, ...rest } = options;
    const runner = new LlamaServerRunner({ ...rest, name: name ?? basename(options.path), ...(this.options.logLevel ? { logLevel: this.options.logLevel } : {}) }, this.options);
    const onAbort = (): void => void runner.dispose();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await runner.start();
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    return runner;
  }
}
