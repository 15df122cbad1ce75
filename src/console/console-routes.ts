/**
 * The web console's HTTP surface: its page at `/console/` (a browser asking
 * for `/` is sent there), its static files under `/console/`, all with a
 * Content-Security-Policy that allows nothing but this origin and no inline
 * script, and `GET /console/api/state`, the one JSON document the dashboard
 * needs that no other route gives (models with trust and variants, the
 * policy engine's rules and decisions, alerts, routing weights, the last 15
 * minutes of samples). The files carry no data and are served without a key;
 * the state needs an API key when keys are set, like every API route, and
 * `POST /console/api/verify` (hash a served model's file again and run the
 * trust policy on it) needs the admin right. The
 * page's other calls go to the public APIs (/v1, /api, /admin). See docs/console.md.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../config/schema.js";
import type { GatewayOps } from "../ops/gateway-ops.js";
import type { OpsHost } from "../ops/gateway-ops.js";
import type { AlertNotice } from "../ops/alert-sink.js";
import type { PolicyStatus } from "../ops/policy-engine.js";
import type { ModelVariant } from "../ops/policy-target.js";
import { scopeOf } from "../server/app.js";
import { ApiKeyCheck } from "../server/api-key-check.js";
import { EDGELM_VERSION } from "../version.js";
import { EdgeError } from "../errors.js";
import { parseBody } from "../server/request-validation.js";
import { resolveModel } from "../store/resolve-model.js";
import { checkTrust } from "../trust/check-trust.js";
import { trustSubjectFor } from "../trust/trust-subject.js";
import { verifyModel } from "../trust/verify-model.js";
import { z } from "zod";
import { loadConsoleAssets } from "./console-assets.js";
import { ConsoleHistory, type HistoryPoint } from "./console-history.js";
import { FleetProbe, type PeerReport } from "./fleet-probe.js";
import type { PeerTarget } from "../router/router.js";

/** The console's policy: this origin only, no inline script or style, no plugins, no framing, no <base>. */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/** POST /console/api/verify: a served model's name (never a path: its file is the one it is served from). */
export const verifyBody = z.object({ model: z.string().min(1).max(256) }).strict();

/** The answer of POST /console/api/verify. */
export interface VerifyAnswer {
  model: string;
  sha256: string;
  /** The hash matched what vouches for it (pin or manifest). */
  hashVerified: boolean;
  trust: { status: string; summary: string };
}

/** A served model as the console shows it. */
export interface ConsoleModel {
  name: string;
  ref: string;
  state: string;
  reason?: string;
  quantization: string | null;
  /** Engines of its serving runners, e.g. "node-llama-cpp". */
  backend: string;
  parallel: number;
  contextSize: number | null;
  sizeBytes: number;
  /** The trust policy's verdict (pinned, signed, unsigned) and its one-line summary. */
  trust: { status: string; summary: string } | null;
  hashVerified: boolean;
  runners: Array<{ id: string; backend: string; state: string; inFlight: number; parallel: number; draining: boolean; ref: string }>;
  queue: { waiting: number; limit: number; inFlight: number; capacity: number };
  /** Other precisions of it in the store (what a swap may go to). */
  variants: ModelVariant[];
  /** For a model following a registry tag: the digest and version it serves and its rollout state. */
  rollout?: { digest: string; version: string; state: string };
}

/** GET /console/api/state */
export interface ConsoleState {
  version: string;
  /** keys: the gateway wants a key; admin: this caller may use the admin operations. */
  auth: { keys: boolean; admin: boolean };
  models: ConsoleModel[];
  /** null without ops (policies, alerts, samples). */
  policies: PolicyStatus | null;
  alerts: AlertNotice[] | null;
  routing: { weights: { peer: number; cloud: number }; peers: number } | null;
  /** Each peer gateway as it answered about itself (health, models, load). */
  fleet: PeerReport[];
  history: { intervalSeconds: number; spanSeconds: number; points: HistoryPoint[] };
}

export interface ConsoleRoutesOptions {
  config: Config;
  gateway: Pick<OpsHost, "models" | "events">;
  /** Ops, when attached (dashboard samples, policies, alerts, variants, routing weights). */
  ops?: GatewayOps;
  /** The peer gateways routed to (the fleet view asks each about itself). Default: none. */
  peers?: () => PeerTarget[];
  /** Where the static files are; default console/ at the package root. */
  assetsDir?: string;
}

/** Adds the console's routes to `app`; returns what to stop at shutdown. */
export function registerConsoleRoutes(app: FastifyInstance, options: ConsoleRoutesOptions): { close(): void } {
  const { config, gateway, ops } = options;
  const assets = loadConsoleAssets(options.assetsDir);
  const keys = new ApiKeyCheck(config.server.api_keys, config.server.admin_keys);
  const spanSeconds = 900;
  const fleet = new FleetProbe({ peers: options.peers ?? (() => []) });
  const history = ops
    ? new ConsoleHistory({
        events: gateway.events,
        onSample: (listener) => ops.sampler.onSample(listener),
        models: () => gateway.models(),
        intervalSeconds: config.metrics.sample_interval_s,
        spanSeconds,
      })
    : undefined;

  const secure = (reply: FastifyReply): FastifyReply =>
    reply
      .header("content-security-policy", CONSOLE_CSP)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .header("x-frame-options", "DENY")
      .header("cache-control", "no-cache");

  // A browser opening the gateway's address gets the console; API clients asking for / still get the plain answer.
  app.addHook("onRequest", (request, reply, done) => {
    const path = request.url.split("?")[0];
    if (request.method === "GET" && path === "/" && /\btext\/html\b/.test(request.headers.accept ?? "")) {
      scopeOf(request, "console.page").end({ status: 302 });
      void secure(reply).redirect("/console/", 302);
      return;
    }
    done();
  });

  const sendAsset = (name: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const asset = assets.get(name)!;
    const scope = scopeOf(request, "console.asset");
    secure(reply).header("etag", asset.etag);
    if (request.headers["if-none-match"] === asset.etag) {
      scope.end({ status: 304 });
      return reply.code(304).send();
    }
    scope.end({ status: 200 });
    return reply.type(asset.type).send(asset.body);
  };
  app.get("/console", sendAsset("index.html"));
  for (const name of assets.keys()) app.get(`/console/${name}`, sendAsset(name));

  app.get("/console/api/state", async (request, reply): Promise<ConsoleState> => {
    const scope = scopeOf(request, "console.state");
    let admin = true;
    try {
      keys.checkAdmin(request.headers.authorization, request.raw.socket.remoteAddress);
    } catch {
      admin = false;
    }
    const models = gateway.models().map((m): ConsoleModel => {
      const backend = [...new Set(m.runners.filter((r) => !r.draining).map((r) => r.backend))].join(",");
      let variants: ModelVariant[] = [];
      try {
        variants = ops ? ops.variants.variantsOf({ ref: m.ref, path: m.path }) : [];
      } catch {
        variants = [];
      }
      return {
        name: m.name,
        ref: m.ref,
        state: m.state,
        ...(m.reason ? { reason: m.reason } : {}),
        quantization: m.info?.quantization ?? m.summary?.predominantType ?? null,
        backend,
        parallel: m.parallel,
        contextSize: m.info?.contextSize ?? null,
        sizeBytes: m.fileSize,
        trust: m.trust ?? null,
        hashVerified: m.hashVerified,
        runners: m.runners.map((r) => ({ id: r.id, backend: r.backend, state: r.state, inFlight: r.inFlight, parallel: r.parallel, draining: r.draining, ref: r.ref })),
        queue: m.queue,
        variants,
        ...(m.rollout ? { rollout: { digest: m.rollout.digest, version: m.rollout.version, state: m.rollout.state } } : {}),
      };
    });
    const peers = await fleet.reports();
    scope.end({ status: 200 });
    void reply.header("cache-control", "no-store");
    return {
      version: EDGELM_VERSION,
      auth: { keys: keys.enabled, admin },
      models,
      policies: ops ? ops.policies.status() : null,
      alerts: ops ? ops.alerts.active() : null,
      routing: ops?.router ? { weights: ops.router.getWeights(), peers: ops.router.peerCount } : null,
      fleet: peers,
      history: { intervalSeconds: config.metrics.sample_interval_s, spanSeconds, points: history?.series() ?? [] },
    };
  });

  // Hashes the file again (ignoring the hash cache) and runs the trust policy on it: admin only, it reads the whole file.
  app.post("/console/api/verify", async (request): Promise<VerifyAnswer> => {
    const scope = scopeOf(request, "console.verify");
    keys.checkAdmin(request.headers.authorization, request.raw.socket.remoteAddress);
    const body = parseBody(verifyBody, request.body);
    const served = gateway.models().find((m) => m.name === body.model);
    if (!served) {
      throw new EdgeError("model_not_found", `no served model is called "${body.model}" (served: ${gateway.models().map((m) => m.name).join(", ")})`, { param: "model" });
    }
    const resolved = await resolveModel(served.ref, config, { allowDownload: false });
    const verification = await verifyModel(resolved, config, { reverify: true });
    const trust = await checkTrust(trustSubjectFor(resolved, verification), config);
    scope.end({ status: 200 });
    return { model: served.name, sha256: verification.sha256, hashVerified: verification.hashVerified, trust: { status: trust.status, summary: trust.summary } };
  });

  return { close: () => history?.stop() };
}
