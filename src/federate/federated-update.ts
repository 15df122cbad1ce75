/**
 * A participant's update to a federated round, on the wire (`application/vnd.edgelm.federated-update`):
 *
 *   "EDLMFED1"                8 bytes, the format
 *   envelope length           u32 little-endian, at most 64 KiB
 *   envelope                  UTF-8 JSON {"update": {...}, "key": "<key id>", "signature": "<base64>"}
 *   delta                     every tensor of `update.tensors`, in that order, as F32 little-endian
 *
 * `signature` is Ed25519 over canonicalJson(update) (the canonical JSON signed admin commands use); the update
 * names the delta's SHA-256, so the signature covers every byte. It carries weights' deltas and counts, no text.
 */
import { createHash, sign, verify, type KeyObject } from "node:crypto";
import { z } from "zod";
import { EdgeError } from "../errors.js";
import { canonicalJson } from "../ops/signed-command.js";
import { valueCount, type F32Tensor } from "./model-delta.js";

export const UPDATE_CONTENT_TYPE = "application/vnd.edgelm.federated-update";
const MAGIC = Buffer.from("EDLMFED1", "ascii");
const MAX_ENVELOPE_BYTES = 64 * 1024;
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "64 lower-case hex digits");

export const updateSchema = z
  .object({
    format: z.literal("edgelm.federated-update/1"),
    round: z.string().min(1).max(64),
    /** SHA-256 of the base model file the delta is relative to. */
    base_sha256: sha256Hex,
    /** Tokens of the participant's training text: its FedAvg weight. */
    tokens: z.number().int().min(1).max(1e12),
    /** The delta's global L2 norm before clipping, after clipping (before noise), and the bound applied. */
    norm: z.number().min(0),
    clipped_norm: z.number().min(0),
    clip_norm: z.number().positive(),
    noise_multiplier: z.number().min(0),
    tensors: z.array(z.object({ name: z.string().min(1).max(256), dims: z.array(z.number().int().min(1)).min(1).max(4) }).strict()).min(1).max(100_000),
    delta_sha256: sha256Hex,
    delta_bytes: z.number().int().min(4),
  })
  .strict();

export type FederatedUpdate = z.infer<typeof updateSchema>;

const envelopeSchema = z.object({ update: z.record(z.string(), z.unknown()), key: z.string().min(1).max(64), signature: z.string().min(1).max(200) }).strict();

/** Refused: the code every refusal carries, the reason (a stable word) in `param` and first in the message. */
export function refused(reason: string, message: string): EdgeError {
  return new EdgeError("update_refused", `update refused (${reason}): ${message}`, { param: reason, details: { reason } });
}

/** The F32 bytes of a delta, tensor after tensor. */
export function deltaBytes(tensors: readonly F32Tensor[]): Buffer {
  return Buffer.concat(tensors.map((t) => Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength)));
}

/** Signs `update` (whose delta is `delta`) with an Ed25519 private key and frames it for the wire. */
export function encodeUpdate(update: FederatedUpdate, delta: Buffer, keyId: string, privateKey: KeyObject): Buffer {
  const signature = sign(null, Buffer.from(canonicalJson(update), "utf8"), privateKey).toString("base64");
  const envelope = Buffer.from(JSON.stringify({ update, key: keyId, signature }), "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32LE(envelope.length);
  return Buffer.concat([MAGIC, length, envelope, delta]);
}

/** The delta's description for `update`: tensor names and dims, SHA-256 and size of its bytes. */
export function describeDelta(tensors: readonly F32Tensor[], delta: Buffer): Pick<FederatedUpdate, "tensors" | "delta_sha256" | "delta_bytes"> {
  return {
    tensors: tensors.map((t) => ({ name: t.name, dims: [...t.dims] })),
    delta_sha256: createHash("sha256").update(delta).digest("hex"),
    delta_bytes: delta.length,
  };
}

export interface ReceivedUpdate {
  update: FederatedUpdate;
  key: string;
  /** The delta's values, tensor after tensor (a copy, aligned). */
  values: Float32Array;
}

/**
 * Parses and checks a body: the frame, the envelope, the signature by one of `keys` (looked up by id), the
 * update's fields, and that the delta bytes are the ones it names. Throws update_refused with its reason.
 */
export function decodeUpdate(body: Buffer, keys: ReadonlyMap<string, KeyObject>): ReceivedUpdate {
  if (body.length < MAGIC.length + 4 || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw refused("malformed", `the body is not a federated update (it must start with "EDLMFED1"; send ${UPDATE_CONTENT_TYPE})`);
  }
  const envelopeLength = body.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (envelopeLength > MAX_ENVELOPE_BYTES || start + envelopeLength > body.length) {
    throw refused("malformed", `the envelope length ${envelopeLength} is over ${MAX_ENVELOPE_BYTES} bytes or past the end of the body`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.subarray(start, start + envelopeLength).toString("utf8"));
  } catch {
    throw refused("malformed", "the envelope is not JSON");
  }
  const envelope = envelopeSchema.safeParse(parsed);
  if (!envelope.success) throw refused("malformed", `expected {"update": {...}, "key": "<key id>", "signature": "<base64>"}: ${envelope.error.issues[0]?.message ?? ""}`);
  const key = keys.get(envelope.data.key);
  if (!key) throw refused("unknown_key", `no participant key is named "${envelope.data.key.slice(0, 64)}" (server.federated.coordinator.participants)`);
  const signature = Buffer.from(envelope.data.signature, "base64");
  let valid = false;
  try {
    valid = signature.length === 64 && verify(null, Buffer.from(canonicalJson(envelope.data.update), "utf8"), key, signature);
  } catch {
    valid = false;
  }
  if (!valid) throw refused("bad_signature", `the signature does not verify with participant key "${envelope.data.key}"`);
  const update = updateSchema.safeParse(envelope.data.update);
  if (!update.success) {
    const issue = update.error.issues[0];
    throw refused("malformed", `update.${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  const delta = body.subarray(start + envelopeLength);
  const expected = valueCount(update.data.tensors) * 4;
  if (update.data.delta_bytes !== expected || delta.length !== expected) {
    throw refused("malformed", `the delta is ${delta.length} bytes; its tensors need ${expected} (update.delta_bytes says ${update.data.delta_bytes})`);
  }
  if (createHash("sha256").update(delta).digest("hex") !== update.data.delta_sha256) throw refused("malformed", "the delta's bytes do not match update.delta_sha256");
  const values = new Float32Array(expected / 4);
  Buffer.from(values.buffer).set(delta);
  return { update: update.data, key: envelope.data.key, values };
}
