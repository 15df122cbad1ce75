/**
 * A generation's stream as the pool hands it out: the engine's chunks passed
 * through unchanged while the gateway's events hear of the first token (TTFT)
 * and of each chunk's token count (throughput, inter-token latency).
 */
import type { Runner } from "../engine/runner.js";
import type { GeneratedChunk, TokenStream } from "../engine/types.js";
import type { GatewayEvents } from "./gateway-events.js";
import type { LocalGeneration, RequestContext, ServedStream } from "./served-model.js";

export class ObservedStream implements ServedStream {
  readonly runnerId: string;
  readonly backend: string;

  constructor(
    private readonly inner: TokenStream,
    runner: Runner,
    readonly queueWaitMs: number,
    readonly loadWaitMs: number,
    private readonly context: RequestContext,
    private readonly model: string,
    private readonly events: GatewayEvents,
    readonly local: LocalGeneration,
  ) {
    this.runnerId = runner.id;
    this.backend = runner.backend;
  }

  get result() {
    return this.inner.result;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GeneratedChunk> {
    let first = true;
    for await (const chunk of this.inner) {
      const at = performance.now();
      if (first && chunk.text.length > 0) {
        first = false;
        this.events.emit("request:first-token", {
          requestId: this.context.requestId,
          route: this.context.route,
          model: this.model,
          ttftMs: at - this.context.receivedAt,
        });
      }
      if (chunk.tokens.length > 0) this.events.emit("request:tokens", { requestId: this.context.requestId, model: this.model, tokens: chunk.tokens.length, at });
      yield chunk;
    }
  }
}
