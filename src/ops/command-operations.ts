/**
 * Runs a command's operation through the admin API's own routes (in process,
 * with Fastify's inject: the same validation, logging, and answers as
 * `edgelm admin` gets over HTTP). `reload` is a swap to the reference the model
 * serves now (new runners load, the old ones drain).
 */
import type { FastifyInstance } from "fastify";
import type { CommandOp } from "../config/sections/router-commands.js";
import { ERROR_CODES, EdgeError, type ErrorCode } from "../errors.js";
import type { AdminAnswers } from "./admin-contract.js";

type Route = { method: "GET" | "POST" | "PUT"; url: string };

const ROUTES: Record<Exclude<CommandOp, "reload">, Route> = {
  swap: { method: "POST", url: "/admin/swap" },
  "runners.add": { method: "POST", url: "/admin/runners/add" },
  "runners.remove": { method: "POST", url: "/admin/runners/remove" },
  "routing.weights": { method: "PUT", url: "/admin/routing/weights" },
  "rollout.check": { method: "POST", url: "/admin/rollout/check" },
  "rollout.rollback": { method: "POST", url: "/admin/rollout/rollback" },
  models: { method: "GET", url: "/admin/models" },
};

/** The OpenAI dialect renames a few codes on the wire; the reply gives ours. */
const RENAMED: Record<string, ErrorCode> = { invalid_api_key: "unauthorized", rate_limit_exceeded: "queue_full", context_length_exceeded: "context_overflow" };

export type CommandRunner = (op: CommandOp, args: Record<string, unknown>) => Promise<unknown>;

/**
 * A runner of commands on `app`'s admin routes. `authorization`: the bearer
 * header the gateway's own admin right is exercised with (an admin key, or an
 * API key when only those are set); the call comes from loopback.
 */
export function adminCommandRunner(app: FastifyInstance, authorization: string | undefined): CommandRunner {
  const call = async (route: Route, body: Record<string, unknown> | undefined): Promise<unknown> => {
    const response = await app.inject({
      method: route.method,
      url: route.url,
      remoteAddress: "127.0.0.1",
      headers: { ...(authorization ? { authorization } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    let answer: unknown;
    try {
      answer = response.json();
    } catch {
      answer = undefined;
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return answer;
    const error = (answer as { error?: { message?: unknown; code?: unknown; param?: unknown } } | undefined)?.error;
    const wire = typeof error?.code === "string" ? error.code : "internal";
    const code = RENAMED[wire] ?? (Object.hasOwn(ERROR_CODES, wire) ? (wire as ErrorCode) : "internal");
    const message = typeof error?.message === "string" ? error.message : `the admin API answered ${response.statusCode}`;
    throw new EdgeError(code, message, typeof error?.param === "string" ? { param: error.param } : {});
  };
  return async (op, args) => {
    if (op !== "reload") return call(ROUTES[op], ROUTES[op].method === "GET" ? undefined : args);
    const model = args.model;
    if (typeof model !== "string" || model.length === 0) throw new EdgeError("invalid_request", "reload: args.model names the model to reload", { param: "args.model" });
    const { models } = (await call(ROUTES.models, undefined)) as AdminAnswers["models"];
    const served = models.find((m) => m.name === model);
    if (!served) throw new EdgeError("model_not_found", `reload: model "${model}" is not served here (served: ${models.map((m) => m.name).join(", ") || "none"})`, { param: "args.model" });
    return call(ROUTES.swap, { model: served.name, to: served.ref, ...(args.mode !== undefined ? { mode: args.mode } : {}) });
  };
}
