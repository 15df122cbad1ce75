/**
 * POST /v1/events: telemetry or alerts devices send upward (e.g. smart cameras).
 * Each event is appended to the durable outbox — on disk before the client
 * hears 202 — and forwarded to the cloud in order when it is reachable.
 * An `Idempotency-Key` header is kept as the event's key (else a UUID is made).
 */
import type { FastifyInstance } from "fastify";
import { EdgeError } from "../errors.js";
import { scopeOf } from "../server/app.js";
import type { Outbox } from "./outbox.js";

/** Largest idempotency key accepted, in characters. */
const MAX_KEY_LENGTH = 200;

/** Adds POST /v1/events to `app`; without an outbox (no router.events) it answers `unsupported`. */
export function registerEventsEndpoint(app: FastifyInstance, outbox: Outbox | undefined): void {
  app.post("/v1/events", async (request, reply) => {
    const scope = scopeOf(request, "events");
    if (!outbox) {
      throw new EdgeError("unsupported", "event forwarding is not configured on this gateway (set router.events.url)", { param: "router.events" });
    }
    const body = request.body;
    if (body === undefined || body === null || typeof body !== "object") {
      throw new EdgeError("invalid_request", "the event must be a JSON object or array", { param: "body" });
    }
    const raw = request.headers["idempotency-key"];
    const key = Array.isArray(raw) ? raw[0] : raw;
    if (key !== undefined && (key.length === 0 || key.length > MAX_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key))) {
      throw new EdgeError("invalid_request", `Idempotency-Key must be 1-${MAX_KEY_LENGTH} visible ASCII characters`, { param: "Idempotency-Key" });
    }
    const record = await outbox.append(body, key);
    scope.end({ status: 202 });
    return reply.code(202).send({ id: record.id, seq: record.seq, status: "accepted", backlog: outbox.backlog });
  });
}
