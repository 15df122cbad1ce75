/**
 * One gRPC call on the gateway, through the transport-neutral seam: opens a
 * RequestScope with the gateway's RequestTracker (so admission, metrics,
 * deadlines and shutdown treat it as they treat HTTP), refuses it while the
 * gateway shuts down, checks the bearer key in the `authorization` metadata,
 * and cancels the scope when the peer cancels or its deadline passes (the
 * runner's slot is freed at once). Failures leave as a gRPC status in exactly
 * one place (grpcStatusOf).
 */
import type { Metadata, sendUnaryData, ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import { EdgeError, toEdgeError } from "../errors.js";
import { logger } from "../log.js";
import type { RequestHeaders, RequestScope } from "../scheduler/request-scope.js";
import type { RequestTracker } from "../scheduler/request-tracker.js";
import type { ApiKeyCheck } from "../server/api-key-check.js";
import { grpcStatusOf } from "./grpc-status.js";

/** gRPC metadata as request headers (text entries; binary ones are left out). */
function headersOf(metadata: Metadata): RequestHeaders {
  const headers: RequestHeaders = {};
  for (const [key, value] of Object.entries(metadata.getMap())) if (typeof value === "string") headers[key] = value;
  return headers;
}

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

/**
 * A cancel this close to the deadline is the deadline: the client's own timer
 * fires first and resets the stream before the server's (which started on
 * arrival) runs out, by about the one-way latency.
 */
const DEADLINE_SLACK_MS = 50;

/** Milliseconds until the call's deadline (Infinity without one). */
export function remainingMs(call: AnyCall): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - Date.now() : Infinity;
}

export class GrpcCalls {
  constructor(
    private readonly requests: RequestTracker,
    private readonly keys: ApiKeyCheck,
  ) {}

  /** Opens the scope of `call` as `route` (e.g. "grpc.generate"), cancelled when the call is. */
  private open(call: AnyCall, route: string): RequestScope {
    const scope = this.requests.open(route, headersOf(call.metadata));
    const hasDeadline = Number.isFinite(remainingMs(call));
    call.on("cancelled", () => {
      const late = hasDeadline && remainingMs(call) <= DEADLINE_SLACK_MS;
      scope.cancel(late ? new EdgeError("timeout", "the call's deadline passed") : new EdgeError("aborted", "the client cancelled the call"));
    });
    return scope;
  }

  /** Throws shutting_down during shutdown, unauthorized without a configured key in the `authorization` metadata. */
  private admit(call: AnyCall): void {
    if (this.requests.closing) throw this.requests.shuttingDown();
    const authorization = call.metadata.get("authorization")[0];
    this.keys.check(typeof authorization === "string" ? authorization : undefined);
  }

  /** A unary handler: `handle` answers (and may end the scope with token counts); errors become the status. */
  unary<Req, Res>(route: string, handle: (request: Req, scope: RequestScope) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      let scope: RequestScope | undefined;
      const run = async (): Promise<void> => {
        scope = this.open(call as AnyCall, route);
        this.admit(call as AnyCall);
        const response = await handle(call.request, scope);
        scope.end({ status: 200 });
        callback(null, response);
      };
      run().catch((caught: unknown) => {
        const error = failure(caught, scope, route);
        callback(grpcStatusOf(error));
      });
    };
  }

  /** A server-streaming handler: `handle` writes and ends the call; errors (before or after messages) become the status. */
  stream<Req, Res>(route: string, handle: (call: ServerWritableStream<Req, Res>, scope: RequestScope) => Promise<void>) {
    return (call: ServerWritableStream<Req, Res>): void => {
      let scope: RequestScope | undefined;
      // A peer that went away makes writes fail; that is expected, not an error to report.
      call.on("error", () => {});
      const run = async (): Promise<void> => {
        scope = this.open(call as AnyCall, route);
        this.admit(call as AnyCall);
        await handle(call, scope);
      };
      run().catch((caught: unknown) => {
        const error = failure(caught, scope, route);
        if (!call.cancelled) call.emit("error", grpcStatusOf(error));
      });
    };
  }
}

/** The EdgeError a call failed with, reported on its scope (the status label is the HTTP equivalent). */
function failure(caught: unknown, scope: RequestScope | undefined, route: string): EdgeError {
  // A cancelled call fails with why it was cancelled (deadline, shutdown, client gone).
  const error = scope?.cancelReason ?? toEdgeError(caught);
  if (error.code === "internal") logger.error(`${route}: ${error.message}`);
  scope?.end({ status: error.status, errorCode: error.code });
  return error;
}
