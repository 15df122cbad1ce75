/**
 * The shipped .proto files (proto/ at the package root), loaded once: the
 * services' definitions for grpc-js (with @grpc/proto-loader, which reads the
 * files at start-up, so the .proto users get is exactly what is served, with
 * no generated code to keep in step) and protobufjs types for the
 * google.rpc error details.
 */
import { fileURLToPath } from "node:url";
import type { ServiceDefinition } from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";

/** The folder holding edgelm/v1/inference.proto and the standard protos it serves beside it. */
export const PROTO_DIR = fileURLToPath(new URL("../../../proto/", import.meta.url));

/** The API's .proto, relative to PROTO_DIR. */
export const INFERENCE_PROTO = "edgelm/v1/inference.proto";
export const HEALTH_PROTO = "grpc/health/v1/health.proto";

/**
 * How messages appear in JavaScript: field names as in the .proto, int64 as
 * numbers, enums as their names, unset fields absent (so an explicit 0 in a
 * `has_` oneof is told apart from no value).
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  arrays: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export interface GrpcDefinitions {
  /** Every served service (reflection describes these). */
  packageDefinition: protoLoader.PackageDefinition;
  inference: ServiceDefinition;
  health: ServiceDefinition;
}

let loaded: GrpcDefinitions | undefined;

/** The services, loaded from PROTO_DIR on first use. */
export function grpcDefinitions(): GrpcDefinitions {
  if (loaded) return loaded;
  const packageDefinition = protoLoader.loadSync([INFERENCE_PROTO, HEALTH_PROTO], LOADER_OPTIONS);
  loaded = {
    packageDefinition,
    inference: packageDefinition["edgelm.v1.Inference"] as ServiceDefinition,
    health: packageDefinition["grpc.health.v1.Health"] as ServiceDefinition,
  };
  return loaded;
}

let errorTypes: protobuf.Root | undefined;

/** google.rpc.Status and its details (RetryInfo, ErrorInfo, BadRequest) as protobufjs types. */
export function errorDetailTypes(): protobuf.Root {
  if (errorTypes) return errorTypes;
  const root = new protobuf.Root();
  // google/protobuf/*.proto come with protobufjs; ours resolve under PROTO_DIR.
  root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? null : `${PROTO_DIR}${target}`) as string;
  root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
  errorTypes = root;
  return root;
}
