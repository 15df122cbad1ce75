/**
 * A routed model as the HTTP dialects see it: a ServedModel whose requests the
 * router sends to the local model, a peer gateway or the cloud. Embeddings
 * always stay local.
 */
import type { ChatMessage, EmbedOptions, EmbeddingResult, GenerateRequest } from "../engine/types.js";
import { isEdgeError } from "../errors.js";
import type { ModelPool } from "../scheduler/model-pool.js";
import type { RequestContext, ServedModel, ServedModelStatus, ServedStream } from "../scheduler/served-model.js";
import type { LocalTarget, Router } from "./router.js";

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function bearerKey(authorization: string | string[] | undefined): string | undefined {
  const value = header(authorization);
  const match = value ? /^Bearer\s+(.+)$/i.exec(value.trim()) : null;
  return match?.[1];
}

export class RoutedModel implements ServedModel {
  private readonly privateKeys: ReadonlySet<string>;

  constructor(
    readonly name: string,
    private readonly router: Router,
    private readonly local: ModelPool,
    privateKeys: readonly string[],
  ) {
    this.privateKeys = new Set(privateKeys);
  }

  /** The local model's status under the routed name (what /v1/models and /api/tags list). */
  describe(): ServedModelStatus {
    const status = this.local.describe();
    return { ...status, name: this.name, ref: `route → ${status.name}` };
  }

  private localTarget(context: RequestContext): LocalTarget {
    const status = this.local.describe();
    return {
      contextSize: status.info?.contextSize ?? Math.min(status.summary?.contextLength ?? 4096, 4096),
      tokenize: async (text) => {
        try {
          return await this.local.tokenize(text);
        } catch (error) {
          // No local runner to count with (loading, crashed): estimate, about four characters a token.
          if (isEdgeError(error) && error.code === "model_not_ready") return new Array<number>(Math.ceil(text.length / 4)).fill(0);
          throw error;
        }
      },
      generate: (request) => this.local.generate(request, context),
    };
  }

  async generate(request: GenerateRequest, context: RequestContext): Promise<ServedStream> {
    const key = bearerKey(context.headers.authorization);
    // A request a peer forwarded here stays here: no routing loops between gateways.
    const forwarded = header(context.headers["x-edgelm-hop"]) !== undefined;
    const routeHeader = header(context.headers["x-edgelm-route"]);
    const result = await this.router.generate(this.name, request, this.localTarget(context), {
      ...(routeHeader !== undefined ? { header: routeHeader } : {}),
      privateKey: forwarded || (key !== undefined && this.privateKeys.has(key)),
      signal: context.signal,
    });
    const served = result.stream as Partial<ServedStream>;
    return {
      [Symbol.asyncIterator]: () => result.stream[Symbol.asyncIterator](),
      result: result.stream.result,
      runnerId: served.runnerId ?? result.servedBy,
      backend: served.backend ?? result.route,
      queueWaitMs: served.queueWaitMs ?? 0,
      loadWaitMs: served.loadWaitMs ?? 0,
      route: { target: result.route, servedBy: result.servedBy, reason: result.reason },
      ...(result.route === "local" && served.local ? { local: served.local } : {}),
    };
  }

  embed(inputs: string[], context: RequestContext, options?: EmbedOptions): Promise<EmbeddingResult & { runnerId: string; queueWaitMs: number }> {
    return this.local.embed(inputs, context, options);
  }

  /** Tokenizer and template are the local model's, as for embeddings. */
  tokenize(text: string, options?: { addBos?: boolean }): Promise<number[]> {
    return this.local.tokenize(text, options);
  }

  detokenize(tokens: number[]): Promise<string> {
    return this.local.detokenize(tokens);
  }

  renderChat(messages: ChatMessage[]): Promise<string> {
    return this.local.renderChat(messages);
  }
}
