/**
 * The coordinator's HTTP surface, on the gateway's server (every route needs an API key when keys are set):
 *
 *   POST /federated/rounds               publish a round (an admin key; JSON, see round-spec.ts)   → 201 status
 *   GET  /federated/rounds[?state=open]  rounds kept, newest first                                  → { rounds }
 *   GET  /federated/rounds/:id           one round's status (accepted and refused updates, privacy)
 *   POST /federated/rounds/:id/updates   a signed update (application/vnd.edgelm.federated-update) → 202
 *
 * An update body over server.federated.coordinator.max_update_bytes is a 413 before it is read.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { EdgeError } from "../errors.js";
import { ApiKeyCheck } from "../server/api-key-check.js";
import { scopeOf } from "../server/app.js";
import { UPDATE_CONTENT_TYPE } from "./federated-update.js";
import type { RoundCoordinator } from "./round-coordinator.js";

const STATES = new Set(["open", "aggregating", "done", "failed"]);

/** Registers the federated routes on `app` (before it listens). */
export function registerFederatedRoutes(app: FastifyInstance, coordinator: RoundCoordinator, keys: { apiKeys: readonly string[]; adminKeys: readonly string[] }): void {
  const admin = new ApiKeyCheck(keys.apiKeys, keys.adminKeys);
  const roundId = (request: FastifyRequest): string => (request.params as { id: string }).id;

  app.post("/federated/rounds", async (request, reply) => {
    scopeOf(request, "federated.publish");
    admin.checkAdmin(request.headers.authorization, request.raw.socket.remoteAddress);
    return reply.code(201).send(await coordinator.publish(request.body));
  });

  app.get("/federated/rounds", async (request) => {
    scopeOf(request, "federated.rounds");
    const state = (request.query as { state?: string }).state;
    if (state !== undefined && !STATES.has(state)) throw new EdgeError("invalid_request", `state must be open, aggregating, done or failed (got "${state.slice(0, 40)}")`, { param: "state" });
    return { rounds: coordinator.list(state) };
  });

  app.get("/federated/rounds/:id", async (request) => {
    scopeOf(request, "federated.round");
    return coordinator.get(roundId(request));
  });

  // Updates are binary: their own parser (a Buffer, capped at max_update_bytes) in a scope of their own.
  void app.register(async (scoped) => {
    scoped.addContentTypeParser(UPDATE_CONTENT_TYPE, { parseAs: "buffer", bodyLimit: coordinator.maxUpdateBytes }, (_request, body, done) => done(null, body));
    scoped.setErrorHandler((error, request) => {
      const e = error as { code?: string; statusCode?: number };
      if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE" || e.statusCode === 413) {
        const tooLarge = new EdgeError(
          "payload_too_large",
          `update refused (too_large): the body is larger than ${coordinator.maxUpdateBytes} bytes (server.federated.coordinator.max_update_bytes)`,
          { param: "too_large" },
        );
        coordinator.noteRefusal(roundId(request), "too_large", tooLarge.message);
        throw tooLarge;
      }
      throw error;
    });
    scoped.post("/federated/rounds/:id/updates", { bodyLimit: coordinator.maxUpdateBytes }, async (request, reply) => {
      scopeOf(request, "federated.update");
      const id = roundId(request);
      coordinator.get(id); // an unknown round is round_not_found, whatever was sent
      if (!Buffer.isBuffer(request.body)) {
        const error = new EdgeError("update_refused", `update refused (malformed): send the update as ${UPDATE_CONTENT_TYPE}`, { param: "malformed" });
        coordinator.noteRefusal(id, "malformed", error.message);
        throw error;
      }
      const accepted = await coordinator.submit(id, request.body);
      return reply.code(202).send({ round: id, accepted });
    });
  });
}
