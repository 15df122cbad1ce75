/**
 * One request's lifetime on the gateway, whatever transport brought it (HTTP
 * today, gRPC later): its id, its cancellation signal (client gone, timeout,
 * shutdown — the abort reason says which), and the request:start /
 * request:end events metrics listen to. Made by a RequestTracker for every
 * request; ended once. The transport tells it when its client went away
 * (`cancel` with an `aborted` error).
 */
import { randomBytes } from "node:crypto";
import type { FinishReason } from "../engine/types.js";
import { EdgeError, isEdgeError, type ErrorCode } from "../errors.js";
import { logger } from "../log.js";
import type { GatewayEvents, RequestAnswerEvent } from "./gateway-events.js";
import type { RequestContext } from "./served-model.js";

/** Request metadata (HTTP headers, gRPC metadata), lower-case names. */
export type RequestHeaders = Record<string, string | string[] | undefined>;

export interface ScopeOutcome {
  status: number;
  errorCode?: ErrorCode;
  finishReason?: FinishReason;
  promptTokens?: number;
  completionTokens?: number;
  ttftMs?: number;
  queueWaitMs?: number;
  servedRoute?: "local" | "peer" | "cloud";
}

export class RequestScope implements RequestContext {
  readonly requestId = `req-${randomBytes(9).toString("base64url")}`;
  readonly receivedAt = performance.now();
  readonly headers: RequestHeaders;
  route: string;
  model = "";
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly events: GatewayEvents,
    private readonly onEnd: (scope: RequestScope) => void,
    headers: RequestHeaders,
    route: string,
  ) {
    this.headers = headers;
    this.route = route;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the request was cancelled, when it was. */
  get cancelReason(): EdgeError | undefined {
    if (!this.controller.signal.aborted) return undefined;
    const reason: unknown = this.controller.signal.reason;
    return isEdgeError(reason) ? reason : new EdgeError("aborted", "the request was cancelled");
  }

  /** The request named a model and passed validation: report it and start its deadline (0 = none). */
  begin(model: string, stream: boolean, timeoutMs: number): void {
    this.model = model;
    if (timeoutMs > 0 && !this.timer) {
      this.timer = setTimeout(
        () => this.cancel(new EdgeError("timeout", `the request did not finish within ${timeoutMs} ms (server.request_timeout_ms)`)),
        timeoutMs,
      );
    }
    this.events.emit("request:start", { requestId: this.requestId, route: this.route, model, stream });
  }

  cancel(reason: EdgeError): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /**
   * Reports what a finished generation answered (request:answer), before end();
   * nothing after end() or once cancelled. A listener's failure is logged, never
   * the client's problem.
   */
  answered(answer: Omit<RequestAnswerEvent, "requestId" | "route" | "model">): void {
    if (this.ended || this.controller.signal.aborted || answer.finishReason === "abort") return;
    try {
      this.events.emit("request:answer", { requestId: this.requestId, route: this.route, model: this.model, ...answer });
    } catch (error) {
      logger.warn(`request:answer listener failed: ${(error as Error).message}`);
    }
  }

  /** Reports the outcome once; later calls are ignored. A client that left is reported as 499. */
  end(outcome: ScopeOutcome): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.onEnd(this);
    const gone = this.cancelReason?.code === "aborted";
    this.events.emit("request:end", {
      requestId: this.requestId,
      route: this.route,
      model: this.model,
      status: gone ? 499 : outcome.status,
      ...(gone ? { errorCode: "aborted" as const } : outcome.errorCode ? { errorCode: outcome.errorCode } : {}),
      ...(outcome.finishReason ? { finishReason: outcome.finishReason } : {}),
      promptTokens: outcome.promptTokens ?? 0,
      completionTokens: outcome.completionTokens ?? 0,
      durationMs: performance.now() - this.receivedAt,
      ...(outcome.ttftMs !== undefined ? { ttftMs: outcome.ttftMs } : {}),
      ...(outcome.queueWaitMs !== undefined ? { queueWaitMs: outcome.queueWaitMs } : {}),
      ...(outcome.servedRoute !== undefined ? { servedRoute: outcome.servedRoute } : {}),
    });
  }
}
