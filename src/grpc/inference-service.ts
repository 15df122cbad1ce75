/**
 * The edgelm.v1.Inference service: each RPC checks its message
 * (grpc-requests.ts), looks the model up in the ModelDirectory and calls the
 * ServedModel — the same admission, router and runners as the HTTP dialects.
 * Generate and Chat stream Chunks of decoded pieces (coalesced like the HTTP
 * streams, chunk-writer.ts) and end with one Done.
 */
import type { ServerWritableStream, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { GenerateRequest } from "../engine/types.js";
import type { RequestScope } from "../scheduler/request-scope.js";
import type { ServedModel } from "../scheduler/served-model.js";
import type { ModelDirectory } from "../server/app-host.js";
import { endCollected } from "../server/generation-response.js";
import type { GrpcCalls } from "./grpc-call.js";
import { chatRequest, generateRequest, parseChat, parseEmbed, parseGenerate, parseGetModel, parseTokenize } from "./grpc-requests.js";
import { GrpcChunkWriter } from "./chunk-writer.js";
import { chunkMessage, doneMessage, modelMessage } from "./grpc-responses.js";

export interface InferenceHost {
  readonly directory: ModelDirectory;
  /** Per-request deadline in ms (0 = none); server.request_timeout_ms. The call's own deadline applies as well. */
  readonly requestTimeoutMs: number;
}

export function inferenceService(host: InferenceHost, calls: GrpcCalls): UntypedServiceImplementation {
  const { directory } = host;

  /** Streams one generation to `call`; a cancelled one fails with why it was cancelled. */
  const streamGeneration = async (call: ServerWritableStream<unknown, unknown>, scope: RequestScope, model: ServedModel, request: GenerateRequest): Promise<void> => {
    scope.begin(model.name, true, host.requestTimeoutMs);
    const stream = await model.generate(request, scope);
    const writer = new GrpcChunkWriter(call);
    let ttftMs: number | undefined;
    try {
      for await (const chunk of stream) {
        if (ttftMs === undefined && chunk.text.length > 0) ttftMs = performance.now() - scope.receivedAt;
        const message = chunkMessage(chunk);
        if (message) writer.chunk(message);
      }
      const result = await stream.result;
      if (result.finishReason === "abort") throw scope.cancelReason ?? new Error("the generation was cancelled");
      writer.end(doneMessage(result, stream, { model: model.name, requestId: scope.requestId, ttftMs }));
      endCollected(scope, stream, { result, ttftMs });
    } catch (error) {
      writer.flushNow();
      throw error;
    }
  };

  return {
    Generate: calls.stream("grpc.generate", async (call, scope) => {
      const message = parseGenerate(call.request);
      const model = directory.lookup(message.model);
      await streamGeneration(call, scope, model, generateRequest(message, model.describe()));
    }),

    Chat: calls.stream("grpc.chat", async (call, scope) => {
      const message = parseChat(call.request);
      const model = directory.lookup(message.model);
      await streamGeneration(call, scope, model, chatRequest(message, model.describe()));
    }),

    Embed: calls.unary("grpc.embed", async (request, scope) => {
      const message = parseEmbed(request);
      const model = directory.lookup(message.model);
      scope.begin(model.name, false, host.requestTimeoutMs);
      const result = await model.embed(message.inputs, scope, message.truncate ? { truncate: true } : {});
      scope.end({ status: 200, promptTokens: result.promptTokens, queueWaitMs: result.queueWaitMs });
      return { embeddings: result.vectors.map((values) => ({ values })), prompt_tokens: result.promptTokens, model: model.name };
    }),

    Tokenize: calls.unary("grpc.tokenize", async (request, scope) => {
      const message = parseTokenize(request);
      const model = directory.lookup(message.model);
      scope.begin(model.name, false, host.requestTimeoutMs);
      const ids = await model.tokenize(message.text ?? "", { addBos: message.add_bos ?? true });
      return { token_ids: ids };
    }),

    ListModels: calls.unary("grpc.list_models", async () => ({ models: directory.models().map(modelMessage) })),

    GetModel: calls.unary("grpc.get_model", async (request) => modelMessage(directory.lookup(parseGetModel(request)).describe())),
  };
}
