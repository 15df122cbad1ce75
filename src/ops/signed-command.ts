/**
 * Signed admin commands (router.events.commands): the wire format and its
 * checks. A message is
 *
 *   {"command": {"id", "op", "args", "issued_at", "gateway"}, "key": "<key id>", "signature": "<base64>"}
 *
 * where `signature` is Ed25519 over the UTF-8 bytes of canonicalJson(command):
 * object keys sorted by code unit, no whitespace, JSON.stringify's strings and
 * numbers (RFC 8785 for the values a command holds). The topic proves nothing:
 * only a valid signature by a configured key does, and only for a command that
 * is fresh (issued_at within max_age_s, at most max_skew_s ahead), addressed to
 * this gateway (or "*") and not seen before (see CommandReplayGuard).
 */
import { verify, type KeyObject } from "node:crypto";
import { z } from "zod";
import { COMMAND_OPS, type CommandOp } from "../config/sections/router-commands.js";

/** Why a command was refused (the label of edgelm_commands_refused_total). */
export type CommandRefusal = "malformed" | "unsigned" | "unknown_key" | "bad_signature" | "wrong_gateway" | "op_not_allowed" | "stale" | "replayed" | "too_large";

/** A verified command, ready to run. */
export interface SignedCommand {
  id: string;
  op: CommandOp;
  args: Record<string, unknown>;
  issuedAt: Date;
  key: string;
}

/** A key commands may be signed with, and the operations it may ask for (undefined: all). */
export interface CommandKey {
  id: string;
  key: KeyObject;
  ops?: readonly CommandOp[];
}

export class CommandRefused extends Error {
  constructor(
    readonly reason: CommandRefusal,
    message: string,
    /** The command's id when the message had a readable one (for the reply). */
    readonly commandId?: string,
  ) {
    super(message);
  }
}

const commandSchema = z
  .object({
    /** Unique per command (the nonce replays are recognised by). */
    id: z.string().regex(/^[A-Za-z0-9._:-]{8,128}$/, "8-128 of A-Z, a-z, 0-9, ., _, : and -"),
    op: z.enum(COMMAND_OPS),
    args: z.record(z.string(), z.unknown()).default({}),
    /** ISO 8601 with a time zone, e.g. 2026-12-03T12:00:00Z. */
    issued_at: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/, "an ISO 8601 time with a zone, e.g. 2026-12-03T12:00:00Z"),
    /** This gateway's id (router.events.gateway_id), or "*" for every gateway that takes the key. */
    gateway: z.string().min(1).max(128),
  })
  .strict();

const envelopeSchema = z.object({ command: z.record(z.string(), z.unknown()), key: z.string().min(1).max(64), signature: z.string().min(1).max(200) }).strict();

/**
 * The canonical JSON of a value: keys sorted (by UTF-16 code unit, as RFC 8785),
 * no whitespace; strings and numbers as JSON.stringify writes them.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("canonical JSON has no NaN or Infinity");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
}

export interface CommandCheck {
  keys: readonly CommandKey[];
  /** This gateway's id (commands name it, or "*"). */
  gatewayId: string;
  maxAgeMs: number;
  maxSkewMs: number;
  maxBytes: number;
  now: Date;
}

/** Verifies one message; throws CommandRefused saying why it is not taken. Replays are the guard's to judge. */
export function verifyCommand(payload: Buffer, check: CommandCheck): SignedCommand {
  if (payload.length > check.maxBytes) throw new CommandRefused("too_large", `the command is ${payload.length} bytes; at most ${check.maxBytes} (router.events.commands.max_bytes)`);
  let message: unknown;
  try {
    message = JSON.parse(payload.toString("utf8"));
  } catch {
    throw new CommandRefused("malformed", "the command is not JSON");
  }
  const readableId = idOf(message);
  if (message !== null && typeof message === "object" && !Array.isArray(message) && !("signature" in message)) {
    throw new CommandRefused("unsigned", "the command carries no signature: sign canonical JSON of `command` with Ed25519 (see docs/events.md)", readableId);
  }
  const envelope = envelopeSchema.safeParse(message);
  if (!envelope.success) throw new CommandRefused("malformed", `expected {"command": {...}, "key": "<key id>", "signature": "<base64>"}: ${firstIssue(envelope.error)}`, readableId);
  const key = check.keys.find((k) => k.id === envelope.data.key);
  if (!key) throw new CommandRefused("unknown_key", `no configured key is named "${envelope.data.key.slice(0, 64)}"`, readableId);
  const signature = Buffer.from(envelope.data.signature, "base64");
  let valid = false;
  try {
    valid = signature.length === 64 && verify(null, Buffer.from(canonicalJson(envelope.data.command), "utf8"), key.key, signature);
  } catch {
    valid = false;
  }
  if (!valid) throw new CommandRefused("bad_signature", `the signature does not verify with key "${key.id}"`, readableId);
  const command = commandSchema.safeParse(envelope.data.command);
  if (!command.success) throw new CommandRefused("malformed", `command: ${firstIssue(command.error)}`, readableId);
  const { id, op, args, issued_at: issued, gateway } = command.data;
  if (gateway !== "*" && gateway !== check.gatewayId) throw new CommandRefused("wrong_gateway", `the command is for gateway "${gateway}", this is "${check.gatewayId}"`, id);
  if (key.ops && !key.ops.includes(op)) throw new CommandRefused("op_not_allowed", `key "${key.id}" may not ask for ${op} (it may: ${key.ops.join(", ")})`, id);
  const issuedAt = new Date(issued);
  if (Number.isNaN(issuedAt.getTime())) throw new CommandRefused("malformed", "command.issued_at: not a valid time", id);
  const age = check.now.getTime() - issuedAt.getTime();
  if (age > check.maxAgeMs) throw new CommandRefused("stale", `the command was issued ${Math.round(age / 1000)} s ago; at most ${check.maxAgeMs / 1000} s (router.events.commands.max_age_s)`, id);
  if (-age > check.maxSkewMs) throw new CommandRefused("stale", `the command is issued ${Math.round(-age / 1000)} s in the future; at most ${check.maxSkewMs / 1000} s of clock skew (router.events.commands.max_skew_s)`, id);
  return { id, op, args, issuedAt, key: key.id };
}

function idOf(message: unknown): string | undefined {
  const command = (message as { command?: { id?: unknown } } | null)?.command;
  const id = command && typeof command === "object" ? command.id : undefined;
  return typeof id === "string" && /^[A-Za-z0-9._:-]{1,128}$/.test(id) ? id : undefined;
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${issue.path.length > 0 ? `${issue.path.join(".")}: ` : ""}${issue.message}`;
}
