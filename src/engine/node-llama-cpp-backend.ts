/**
 * The node-llama-cpp backend: llama.cpp in this process. It and its
 * node-llama-cpp-*.ts siblings (runtime, model, sampling, threads) are the only
 * modules that import node-llama-cpp; everything they return is in the
 * engine's own types.
 */
import { statSync } from "node:fs";
import { basename } from "node:path";
import type { LlamaContext, LlamaModel } from "node-llama-cpp";
import { checkAdapterForBase, readLoraAdapter } from "../adapt/lora-adapter.js";
import { EdgeError, isEdgeError } from "../errors.js";
import { ChatTemplate } from "./chat-template.js";
import { DEFAULT_GRAMMAR_CACHE_LIMITS } from "./grammar-cache.js";
import { AdapterContexts, adapterSequences, DEFAULT_ADAPTER_CONTEXTS } from "./node-llama-cpp-adapter-contexts.js";
import { NodeLlamaCppModel } from "./node-llama-cpp-model.js";
import { errorText, getRuntime, loadErrors, type NodeLlamaCppOptions } from "./node-llama-cpp-runtime.js";
import { splitThreadsPerPhase } from "./node-llama-cpp-threads.js";
import type { EngineBackend, LoadedModel, LoadOptions, ModelInfo } from "./types.js";
import { modelUsesMmap } from "./weight-residency.js";
import { summarizeGguf, type GgufSummary } from "../gguf/gguf-summary.js";
import { readGguf, type GgufFile } from "../gguf/gguf-reader.js";
import { resolveThreads } from "./thread-setting.js";

export type { NodeLlamaCppOptions } from "./node-llama-cpp-runtime.js";
export { splitThreadsPerPhase } from "./node-llama-cpp-threads.js";

export class NodeLlamaCppBackend implements EngineBackend {
  readonly name = "node-llama-cpp";
  constructor(private readonly options: NodeLlamaCppOptions = {}) {}

  async load(options: LoadOptions): Promise<LoadedModel> {
    const gguf = readGguf(options.path);
    const summary = summarizeGguf(gguf);
    // First, before any weights: a template past its render limits keeps the model from loading.
    const chatTemplate = await ChatTemplate.open(gguf.metadata, options.name ?? basename(options.path), options.chatTemplateLimits);
    try {
      const useMmap = modelUsesMmap(gguf, { backend: "node-llama-cpp", ...(options.mmap ? { mmap: options.mmap } : {}) });
      return await this.loadWith(options, gguf, summary, chatTemplate, useMmap);
    } catch (error) {
      await chatTemplate.dispose();
      throw error;
    }
  }

  private async loadWith(options: LoadOptions, gguf: GgufFile, summary: GgufSummary, chatTemplate: ChatTemplate, useMmap: boolean): Promise<LoadedModel> {
    const { llama, build } = await getRuntime(this.options.gpu ?? false, this.options.build ?? "auto", this.options.cmakeOptions);
    const threads = resolveThreads(options.threads, llama.cpuMathCores);
    let model: LlamaModel;
    try {
      loadErrors.length = 0;
      model = await llama.loadModel({
        modelPath: options.path,
        useMmap,
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
    const applied = (options.adapters ?? []).map((a) => ({ filePath: a.path, scale: a.scale }));
    const selectable = options.selectableAdapters ?? [];
    // One context of `sequences` sequences with the applied adapters and, for an adapter set, the selected ones.
    const openContext = (sequences: number, lora: Array<{ filePath: string; scale: number }>): Promise<LlamaContext> =>
      model.createContext({
        contextSize,
        sequences,
        threads: { ideal: threads.decode, min: threads.decode },
        batchSize: Math.max(sequences, Math.min(options.batchSize ?? 512, contextSize * sequences)),
        failedCreationRemedy: false,
        ...(lora.length > 0 ? { lora: { adapters: lora } } : {}),
        ...(options.signal ? { createSignal: options.signal } : {}),
      });
    let context: LlamaContext;
    try {
      // Nothing unvalidated reaches llama.cpp: each selectable adapter is checked against this model first.
      for (const adapter of selectable) await checkAdapterForBase(readLoraAdapter(adapter.path), gguf, options.path, adapter.path);
      context = await openContext(parallel, applied);
    } catch (error) {
      await model.dispose();
      if (isEdgeError(error)) throw error;
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
    const adapterContexts =
      selectable.length > 0
        ? new AdapterContexts(
            async (set, sequences) => {
              const lora = [...applied, ...set.map((a) => ({ filePath: selectable[a.index]!.path, scale: a.scale }))];
              let created: LlamaContext;
              try {
                created = await openContext(sequences, lora);
              } catch (error) {
                throw new EdgeError("model_load_failed", `cannot create a context for the adapters ${set.map((a) => selectable[a.index]!.name).join("+")} (${contextSize} tokens × ${sequences}): ${errorText(error)}`);
              }
              splitThreadsPerPhase(created, () => info.threads);
              return created;
            },
            adapterSequences(parallel, options.adapterContexts),
            Math.max(1, options.adapterContexts?.max ?? DEFAULT_ADAPTER_CONTEXTS),
          )
        : undefined;
    return new NodeLlamaCppModel(llama, model, context, info, chatTemplate, options.grammarCacheLimits ?? DEFAULT_GRAMMAR_CACHE_LIMITS, adapterContexts ? { contexts: adapterContexts, count: selectable.length } : undefined);
  }
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
