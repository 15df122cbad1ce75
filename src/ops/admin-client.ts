/**
 * Talks to a running gateway's admin API (/admin/...): what `edgelm admin`
 * uses, and what scripts can import. Every failure is an EdgeError: the
 * gateway's own error (code and message) when it answered, else
 * upstream_unavailable naming the URL.
 */
import { ERROR_CODES, EdgeError, type ErrorCode } from "../errors.js";
import type { AddAdapterCommand, AdminAnswers, AlertCommand, SwapCommand, WeightsCommand } from "./admin-contract.js";

export type { AlertCommand, SwapCommand } from "./admin-contract.js";

export interface AdminClientOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:11435. */
  url: string;
  /** A gateway API key (sent as a bearer token). */
  apiKey?: string;
  /** Per-request timeout in ms. Default 600000 (a swap loads a model). */
  timeoutMs?: number;
}

/** The OpenAI dialect renames a few codes; map them back. */
const OPENAI_CODES: Record<string, ErrorCode> = {
  invalid_api_key: "unauthorized",
  rate_limit_exceeded: "queue_full",
  context_length_exceeded: "context_overflow",
};

export class AdminClient {
  private readonly base: string;

  constructor(private readonly options: AdminClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new EdgeError("usage", `"${options.url}" is not a URL (expected e.g. http://127.0.0.1:11435)`, { param: "--url" });
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new EdgeError("usage", `the gateway URL must be http:// or https:// (got ${options.url})`, { param: "--url" });
    }
    this.base = `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
  }

  policies(): Promise<AdminAnswers["policies"]> {
    return this.call("GET", "/admin/policies");
  }

  models(): Promise<AdminAnswers["models"]> {
    return this.call("GET", "/admin/models");
  }

  swap(command: SwapCommand): Promise<AdminAnswers["swap"]> {
    return this.call("POST", "/admin/swap", command);
  }

  addRunner(model: string): Promise<AdminAnswers["addRunner"]> {
    return this.call("POST", "/admin/runners/add", { model });
  }

  removeRunner(model: string, runner?: string): Promise<AdminAnswers["removeRunner"]> {
    return this.call("POST", "/admin/runners/remove", { model, ...(runner !== undefined ? { runner } : {}) });
  }

  /** Adds a store adapter to a served model (POST /admin/models/:name/adapters). */
  addAdapter(model: string, command: AddAdapterCommand): Promise<AdminAnswers["adapters"]> {
    return this.call("POST", `/admin/models/${encodeURIComponent(model)}/adapters`, command);
  }

  /** Removes one (DELETE /admin/models/:name/adapters/:adapter). */
  removeAdapter(model: string, adapter: string): Promise<AdminAnswers["adapters"]> {
    return this.call("DELETE", `/admin/models/${encodeURIComponent(model)}/adapters/${encodeURIComponent(adapter)}`);
  }

  weights(): Promise<AdminAnswers["weights"]> {
    return this.call("GET", "/admin/routing/weights");
  }

  setWeights(weights: WeightsCommand): Promise<AdminAnswers["weights"]> {
    return this.call("PUT", "/admin/routing/weights", weights);
  }

  alert(command: AlertCommand): Promise<AdminAnswers["alert"]> {
    return this.call("POST", "/admin/alerts", command);
  }

  alerts(): Promise<AdminAnswers["alerts"]> {
    return this.call("GET", "/admin/alerts");
  }

  rollout(): Promise<AdminAnswers["rollout"]> {
    return this.call("GET", "/admin/rollout");
  }

  rolloutCheck(model?: string): Promise<AdminAnswers["rolloutCheck"]> {
    return this.call("POST", "/admin/rollout/check", model !== undefined ? { model } : {});
  }

  rollback(model: string): Promise<AdminAnswers["rollback"]> {
    return this.call("POST", "/admin/rollout/rollback", { model });
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.base}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 600_000),
      });
    } catch (error) {
      const cause = (error as Error).name === "TimeoutError" ? "no answer in time" : (((error as Error).cause as Error | undefined)?.message ?? (error as Error).message);
      throw new EdgeError("upstream_unavailable", `cannot reach the gateway at ${this.base} (${cause}); is \`edgelm serve\` running there?`);
    }
    const text = await response.text();
    let data: unknown;
    try {
      data = text.length > 0 ? JSON.parse(text) : {};
    } catch {
      throw new EdgeError("upstream_unavailable", `${method} ${url} answered ${response.status} with something that is not JSON`);
    }
    if (!response.ok) {
      const error = (data as { error?: { message?: string; code?: string; param?: string } }).error;
      const raw = error?.code ?? "";
      const code: ErrorCode = OPENAI_CODES[raw] ?? (raw in ERROR_CODES ? (raw as ErrorCode) : "upstream_unavailable");
      throw new EdgeError(code, error?.message ?? `${method} ${url} answered ${response.status}`, error?.param ? { param: error.param } : {});
    }
    return data as T;
  }
}
