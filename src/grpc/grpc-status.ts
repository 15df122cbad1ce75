/**
 * The one place an EdgeError becomes a gRPC status: the code from the error's
 * stable code, the message as the status details, and in the trailers
 * `grpc-status-details-bin` — a google.rpc.Status carrying an ErrorInfo
 * (reason = the EdgeError code, domain "edgelm", the field at fault), a
 * BadRequest naming the field for INVALID_ARGUMENT, and a RetryInfo when the
 * error says when to retry (queue full, model loading, shutting down).
 * `edgelm-error-code` repeats the code as plain metadata for simple clients.
 */
import { Metadata, status as GrpcCode, type StatusObject } from "@grpc/grpc-js";
import type { EdgeError, ErrorCode } from "../errors.js";
import { errorDetailTypes } from "./grpc-definitions.js";

/** gRPC status per error code (every code has one: the compiler checks). */
export const GRPC_STATUS: Record<ErrorCode, GrpcCode> = {
  usage: GrpcCode.INVALID_ARGUMENT,
  invalid_request: GrpcCode.INVALID_ARGUMENT,
  unsupported: GrpcCode.INVALID_ARGUMENT,
  not_a_file: GrpcCode.INVALID_ARGUMENT,
  invalid_config: GrpcCode.INTERNAL,
  sandbox_unavailable: GrpcCode.INTERNAL,
  payload_too_large: GrpcCode.RESOURCE_EXHAUSTED,
  unauthorized: GrpcCode.UNAUTHENTICATED,
  forbidden: GrpcCode.PERMISSION_DENIED,
  route_not_found: GrpcCode.UNIMPLEMENTED,
  response_not_found: GrpcCode.NOT_FOUND,
  model_not_found: GrpcCode.NOT_FOUND,
  file_not_found: GrpcCode.NOT_FOUND,
  invalid_gguf: GrpcCode.FAILED_PRECONDITION,
  unsupported_model: GrpcCode.FAILED_PRECONDITION,
  model_load_failed: GrpcCode.UNAVAILABLE,
  model_exists: GrpcCode.ALREADY_EXISTS,
  integrity_mismatch: GrpcCode.FAILED_PRECONDITION,
  signature_invalid: GrpcCode.FAILED_PRECONDITION,
  signature_missing: GrpcCode.FAILED_PRECONDITION,
  untrusted_signer: GrpcCode.FAILED_PRECONDITION,
  health_gate_failed: GrpcCode.FAILED_PRECONDITION,
  context_overflow: GrpcCode.OUT_OF_RANGE,
  aborted: GrpcCode.CANCELLED,
  timeout: GrpcCode.DEADLINE_EXCEEDED,
  queue_full: GrpcCode.RESOURCE_EXHAUSTED,
  model_not_ready: GrpcCode.UNAVAILABLE,
  runner_crashed: GrpcCode.UNAVAILABLE,
  shutting_down: GrpcCode.UNAVAILABLE,
  insufficient_memory: GrpcCode.UNAVAILABLE,
  upstream_unavailable: GrpcCode.UNAVAILABLE,
  network_unreachable: GrpcCode.UNAVAILABLE,
  download_failed: GrpcCode.UNAVAILABLE,
  disk_full: GrpcCode.RESOURCE_EXHAUSTED,
  outbox_full: GrpcCode.RESOURCE_EXHAUSTED,
  round_not_found: GrpcCode.NOT_FOUND,
  round_closed: GrpcCode.FAILED_PRECONDITION,
  update_refused: GrpcCode.FAILED_PRECONDITION,
  io_error: GrpcCode.INTERNAL,
  internal: GrpcCode.INTERNAL,
};

/** The domain of ErrorInfo. */
export const ERROR_DOMAIN = "edgelm";

const TYPE_URL = "type.googleapis.com/";

function packed(typeName: string, value: Record<string, unknown>): { type_url: string; value: Uint8Array } {
  const type = errorDetailTypes().lookupType(typeName);
  return { type_url: TYPE_URL + typeName, value: type.encode(type.fromObject(value)).finish() };
}

/** The status a failed call ends with (for a unary callback or a stream's error). */
export function grpcStatusOf(error: EdgeError): StatusObject {
  const code = GRPC_STATUS[error.code] ?? GrpcCode.INTERNAL;
  const details = [packed("google.rpc.ErrorInfo", { reason: error.code, domain: ERROR_DOMAIN, metadata: error.param ? { param: error.param } : {} })];
  if (code === GrpcCode.INVALID_ARGUMENT && error.param) {
    details.push(packed("google.rpc.BadRequest", { field_violations: [{ field: error.param, description: error.message }] }));
  }
  if (error.retryAfter !== undefined) {
    const seconds = Math.max(0, error.retryAfter);
    details.push(packed("google.rpc.RetryInfo", { retry_delay: { seconds: Math.floor(seconds), nanos: Math.round((seconds % 1) * 1e9) } }));
  }
  const statusType = errorDetailTypes().lookupType("google.rpc.Status");
  const metadata = new Metadata();
  metadata.set("edgelm-error-code", error.code);
  metadata.set("grpc-status-details-bin", Buffer.from(statusType.encode(statusType.fromObject({ code, message: error.message, details })).finish()));
  return { code, details: error.message, metadata };
}
