/**
 * A real grpc-js client made from the shipped .proto files (proto/ at the
 * repository root, as a user would load them), and helpers to read streams
 * and the google.rpc error details of a failed call.
 */
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";
import { REPO_ROOT } from "../helpers.js";

export const PROTO_ROOT = join(REPO_ROOT, "proto");

const definition = protoLoader.loadSync(["edgelm/v1/inference.proto", "grpc/health/v1/health.proto"], {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
});
const loaded = grpc.loadPackageDefinition(definition) as any;

/** The edgelm.v1.Inference client constructor. */
export const InferenceClient: new (address: string, credentials: grpc.ChannelCredentials) => any = loaded.edgelm.v1.Inference;
export const HealthClient: new (address: string, credentials: grpc.ChannelCredentials) => any = loaded.grpc.health.v1.Health;

/** Metadata carrying a bearer key. */
export function bearer(key: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${key}`);
  return metadata;
}

/** A unary call as a promise. */
export function unary<T = any>(client: any, method: string, request: unknown, metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, options, (error: grpc.ServiceError | null, response: T) => (error ? reject(error) : resolve(response)));
  });
}

export interface StreamedGeneration {
  chunks: any[];
  done: any;
  text: string;
}

/** Reads a Generate/Chat stream to its end: chunks, the done message, the text. */
export function collect(call: grpc.ClientReadableStream<any>): Promise<StreamedGeneration> {
  return new Promise((resolve, reject) => {
    const chunks: any[] = [];
    let done: any;
    call.on("data", (message: any) => {
      if (message.chunk) chunks.push(message.chunk);
      if (message.done) done = message.done;
    });
    call.on("error", reject);
    call.on("end", () => resolve({ chunks, done, text: chunks.map((c) => c.text ?? "").join("") }));
  });
}

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? null : join(PROTO_ROOT, target)) as string;
root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });

/** The google.rpc.Status in a failed call's grpc-status-details-bin, details unpacked by type name. */
export function statusDetails(error: grpc.ServiceError): { code: number; message: string; details: Record<string, any> } {
  const bin = error.metadata.get("grpc-status-details-bin")[0];
  if (!Buffer.isBuffer(bin)) throw new Error(`no grpc-status-details-bin on ${error.code} ${error.details}`);
  const status = root.lookupType("google.rpc.Status").toObject(root.lookupType("google.rpc.Status").decode(bin), { longs: Number, defaults: true }) as any;
  const details: Record<string, any> = {};
  for (const any of status.details) {
    const name = String(any.type_url).split("/").pop()!;
    const type = root.lookupType(name);
    details[name] = type.toObject(type.decode(any.value), { longs: Number, defaults: true });
  }
  return { code: status.code, message: status.message, details };
}
