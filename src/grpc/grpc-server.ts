/**
 * The gateway's gRPC API on its own port (server.grpc): edgelm.v1.Inference,
 * grpc.health.v1.Health and server reflection (v1 and v1alpha, from the same
 * package definition), over plaintext HTTP/2 or TLS, with client certificates
 * required when a client CA is configured (mutual TLS). It shares the
 * gateway's request tracker and model directory, so admission, metrics, auth
 * and shutdown are those of the HTTP API.
 *
 *   const grpc = new GrpcServer(gateway, config);
 *   const address = await grpc.listen();   // "127.0.0.1:50051"
 *   await grpc.close(graceMs);
 */
import { readFileSync } from "node:fs";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import { ApiKeyCheck } from "../server/api-key-check.js";
import { GrpcCalls } from "./grpc-call.js";
import { grpcDefinitions } from "./grpc-definitions.js";
import { HealthService, type HealthHost } from "./health-service.js";
import { inferenceService, type InferenceHost } from "./inference-service.js";

/** What the gRPC API needs from the gateway. */
export type GrpcHost = InferenceHost & HealthHost;

export class GrpcServer {
  private readonly server: Server;
  private readonly health: HealthService;
  private boundPort: number | undefined;
  private closePromise: Promise<void> | undefined;

  constructor(
    host: GrpcHost,
    private readonly config: Config,
  ) {
    const limit = config.server.body_limit_bytes;
    this.server = new Server({ "grpc.max_receive_message_length": limit });
    const definitions = grpcDefinitions();
    const calls = new GrpcCalls(host.requests, new ApiKeyCheck(config.server.api_keys));
    this.health = new HealthService(host);
    this.server.addService(definitions.inference, inferenceService(host, calls));
    this.server.addService(definitions.health, this.health.implementation());
    new ReflectionService(definitions.packageDefinition).addToServer(this.server);
  }

  /** Binds server.grpc.host (default server.host) : server.grpc.port; resolves with "host:port". */
  async listen(): Promise<string> {
    const grpc = this.config.server.grpc;
    if (grpc.port === undefined) throw new EdgeError("invalid_config", "server.grpc.port is not set: the gRPC API is off");
    const host = grpc.host ?? this.config.server.host;
    const target = `${host.includes(":") ? `[${host}]` : host}:${grpc.port}`;
    const credentials = this.credentials();
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(target, credentials, (error, port) => {
        if (!error) return resolve(port);
        const message = error.message;
        if (/EADDRINUSE|address already in use/i.test(message)) {
          return reject(new EdgeError("usage", `${target} is already in use; choose another port with --grpc-port`, { param: "server.grpc.port" }));
        }
        if (/EACCES/i.test(message)) return reject(new EdgeError("usage", `binding ${target} is not permitted; use a port above 1023`, { param: "server.grpc.port" }));
        reject(new EdgeError("usage", `cannot bind the gRPC API to ${target}: ${message}`, { param: "server.grpc.host" }));
      });
    });
    return this.address;
  }

  /** "host:port" once listening. */
  get address(): string {
    if (this.boundPort === undefined) throw new EdgeError("internal", "the gRPC API is not listening");
    const host = this.config.server.grpc.host ?? this.config.server.host;
    return `${host.includes(":") ? `[${host}]` : host}:${this.boundPort}`;
  }

  /** Whether it serves TLS. */
  get tls(): boolean {
    return this.config.server.grpc.tls !== undefined;
  }

  /**
   * Stops taking calls; calls in flight finish (the gateway cancels them after
   * its grace period); health watches end; after `graceMs` + 3 s what is left is
   * dropped. Safe to call more than once.
   */
  close(graceMs: number): Promise<void> {
    this.closePromise ??= new Promise<void>((resolve) => {
      this.health.stop();
      if (this.boundPort === undefined) return resolve();
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs + 3000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    return this.closePromise;
  }

  private credentials(): ServerCredentials {
    const tls = this.config.server.grpc.tls;
    if (!tls) return ServerCredentials.createInsecure();
    const read = (path: string, field: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (error) {
        throw new EdgeError("invalid_config", `server.grpc.tls.${field}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
          param: `server.grpc.tls.${field}`,
        });
      }
    };
    const clientCa = tls.client_ca ? read(tls.client_ca, "client_ca") : null;
    try {
      return ServerCredentials.createSsl(clientCa, [{ cert_chain: read(tls.cert, "cert"), private_key: read(tls.key, "key") }], clientCa !== null);
    } catch (error) {
      if (error instanceof EdgeError) throw error;
      throw new EdgeError("invalid_config", `server.grpc.tls: ${(error as Error).message}`, { param: "server.grpc.tls" });
    }
  }
}
