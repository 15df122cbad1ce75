/**
 * The standard grpc.health.v1.Health service. "" (the server) and
 * "edgelm.v1.Inference" are SERVING while every served model is ready and the
 * gateway is not shutting down (as /ready); each served model's name is a
 * service too, SERVING once its file was verified and its runners loaded.
 * Check answers NOT_FOUND for other names; Watch sends SERVICE_UNKNOWN, then
 * every change, until the client cancels or the server stops. Like /health and
 * /ready, it needs no key.
 */
import { status as GrpcCode, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { GatewayEvents } from "../scheduler/gateway-events.js";
import type { RequestTracker } from "../scheduler/request-tracker.js";
import type { ModelDirectory } from "../server/app-host.js";

export const INFERENCE_SERVICE = "edgelm.v1.Inference";

type ServingStatus = "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

export interface HealthHost {
  readonly directory: ModelDirectory;
  readonly requests: RequestTracker;
  readonly events: GatewayEvents;
}

export class HealthService {
  private readonly watchers = new Set<() => void>();
  private stopped = false;

  constructor(private readonly host: HealthHost) {}

  /** The status of `service` now. */
  statusOf(service: string): ServingStatus {
    const models = this.host.directory.models();
    const up = !this.stopped && !this.host.requests.closing;
    if (service === "" || service === INFERENCE_SERVICE) return up && models.length > 0 && models.every((m) => m.state === "ready") ? "SERVING" : "NOT_SERVING";
    let model;
    try {
      model = this.host.directory.lookup(service).describe();
    } catch {
      return "SERVICE_UNKNOWN";
    }
    return up && model.state === "ready" ? "SERVING" : "NOT_SERVING";
  }

  /** Every watcher hears NOT_SERVING and its stream ends (shutdown: watches must not hold the server open). */
  stop(): void {
    this.stopped = true;
    for (const end of [...this.watchers]) end();
  }

  implementation(): UntypedServiceImplementation {
    return {
      Check: (call: ServerUnaryCall<{ service?: string }, unknown>, callback: sendUnaryData<unknown>) => {
        const service = call.request.service ?? "";
        const status = this.statusOf(service);
        if (status === "SERVICE_UNKNOWN") callback({ code: GrpcCode.NOT_FOUND, details: `no service "${service}" here: "", "${INFERENCE_SERVICE}" or a served model's name` });
        else callback(null, { status });
      },
      Watch: (call: ServerWritableStream<{ service?: string }, unknown>) => {
        const service = call.request.service ?? "";
        call.on("error", () => {});
        let last: ServingStatus | undefined;
        const send = (): void => {
          const status = this.statusOf(service);
          if (status !== last) call.write({ status });
          last = status;
        };
        const end = (): void => {
          this.host.events.off("model:state", send);
          this.watchers.delete(end);
          send();
          call.end();
        };
        this.host.events.on("model:state", send);
        this.watchers.add(end);
        call.on("cancelled", () => {
          this.host.events.off("model:state", send);
          this.watchers.delete(end);
        });
        send();
      },
    };
  }
}
