/**
 * The one error type of edgelm. Every failure a user can cause or meet carries a
 * stable `code`; each edge (CLI, HTTP) converts it exactly once — to a one-line
 * message and exit code, or to a status and the API dialect's error shape.
 */

/** Stable error codes. Add new ones here; never rename one that shipped. */
export const ERROR_CODES = {
  // input and usage
  usage: { status: 400, exit: 2 },
  invalid_request: { status: 400, exit: 2 },
  invalid_config: { status: 500, exit: 2 },
  sandbox_unavailable: { status: 500, exit: 2 },
  unsupported: { status: 400, exit: 2 },
  payload_too_large: { status: 413, exit: 2 },
  unauthorized: { status: 401, exit: 2 },
  /** A valid key (or client) without the right for this route, e.g. an inference key on /admin/*. */
  forbidden: { status: 403, exit: 2 },
  route_not_found: { status: 404, exit: 2 },
  /** A stored object (e.g. a Response for previous_response_id) that is not, or no longer, kept. */
  response_not_found: { status: 404, exit: 2 },
  // models and files
  model_not_found: { status: 404, exit: 3 },
  file_not_found: { status: 404, exit: 3 },
  not_a_file: { status: 400, exit: 3 },
  invalid_gguf: { status: 422, exit: 3 },
  unsupported_model: { status: 422, exit: 3 },
  model_load_failed: { status: 500, exit: 3 },
  model_exists: { status: 409, exit: 3 },
  /** A new version of a followed model failed the rollout's smoke set; the old version keeps serving. */
  health_gate_failed: { status: 422, exit: 3 },
  // trust
  integrity_mismatch: { status: 422, exit: 4 },
  signature_invalid: { status: 422, exit: 4 },
  signature_missing: { status: 422, exit: 4 },
  untrusted_signer: { status: 422, exit: 4 },
  // generation
  context_overflow: { status: 400, exit: 5 },
  aborted: { status: 499, exit: 130 },
  timeout: { status: 504, exit: 5 },
  // capacity and availability
  queue_full: { status: 429, exit: 6 },
  model_not_ready: { status: 503, exit: 6 },
  runner_crashed: { status: 503, exit: 6 },
  shutting_down: { status: 503, exit: 6 },
  insufficient_memory: { status: 503, exit: 6 },
  upstream_unavailable: { status: 502, exit: 7 },
  network_unreachable: { status: 502, exit: 7 },
  download_failed: { status: 502, exit: 7 },
  // storage
  disk_full: { status: 507, exit: 8 },
  outbox_full: { status: 507, exit: 8 },
  io_error: { status: 500, exit: 8 },
  // federated rounds
  /** A federated round that is not (or no longer) known to the coordinator. */
  round_not_found: { status: 404, exit: 3 },
  /** A federated round that takes no more updates (aggregating, done or failed). */
  round_closed: { status: 409, exit: 3 },
  /** A participant's update the coordinator refused; `param` holds the reason (unknown_key, wrong_base, over_norm, ...). */
  update_refused: { status: 422, exit: 4 },
  // everything else: a bug
  internal: { status: 500, exit: 1 },
} as const satisfies Record<string, { status: number; exit: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The trust path refused the file (its hash, or its signature under the trust
 * policy): the one list the scheduler (a refused file is not retried) and the
 * policies (the next variant may still pass) both read.
 */
export const TRUST_REFUSAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["integrity_mismatch", "signature_invalid", "signature_missing", "untrusted_signer"]);

export interface EdgeErrorOptions {
  /** The request field or CLI flag at fault, when there is one (OpenAI's `param`). */
  param?: string;
  /** Structured facts for machines (e.g. `{ expected, actual }`). */
  details?: Record<string, unknown>;
  /** Seconds a client should wait before retrying (sent as `Retry-After`). */
  retryAfter?: number;
  cause?: unknown;
}

export class EdgeError extends Error {
  readonly code: ErrorCode;
  readonly param?: string;
  readonly details?: Record<string, unknown>;
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message: string, options: EdgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "EdgeError";
    this.code = code;
    if (options.param !== undefined) this.param = options.param;
    if (options.details !== undefined) this.details = options.details;
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }

  /** HTTP status for this error's code. */
  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  /** Process exit code for this error's code. */
  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  /** A plain object that survives JSON and IPC; see {@link EdgeError.fromJSON}. */
  toJSON(): SerializedEdgeError {
    return {
      code: this.code,
      message: this.message,
      ...(this.param !== undefined ? { param: this.param } : {}),
      ...(this.details !== undefined ? { details: this.details } : {}),
      ...(this.retryAfter !== undefined ? { retryAfter: this.retryAfter } : {}),
    };
  }

  static fromJSON(data: SerializedEdgeError): EdgeError {
    const code: ErrorCode = data.code in ERROR_CODES ? data.code : "internal";
    const options: EdgeErrorOptions = {};
    if (data.param !== undefined) options.param = data.param;
    if (data.details !== undefined) options.details = data.details;
    if (data.retryAfter !== undefined) options.retryAfter = data.retryAfter;
    return new EdgeError(code, data.message, options);
  }
}

export interface SerializedEdgeError {
  code: ErrorCode;
  message: string;
  param?: string;
  details?: Record<string, unknown>;
  retryAfter?: number;
}

export function isEdgeError(value: unknown): value is EdgeError {
  return value instanceof EdgeError;
}

/**
 * Turns anything thrown into an EdgeError. Node system errors keep their meaning
 * (ENOENT → file_not_found, ENOSPC → disk_full); anything unknown becomes `internal`.
 */
export function toEdgeError(error: unknown, context?: string): EdgeError {
  if (isEdgeError(error)) return error;
  const prefix = context ? `${context}: ` : "";
  if (error instanceof Error) {
    const sys = error as NodeJS.ErrnoException;
    const where = sys.path ? ` (${sys.path})` : "";
    switch (sys.code) {
      case "ENOENT":
        return new EdgeError("file_not_found", `${prefix}no such file or directory${where}`, { cause: error });
      case "EISDIR":
        return new EdgeError("not_a_file", `${prefix}is a directory, not a file${where}`, { cause: error });
      case "ENAMETOOLONG":
        return new EdgeError("usage", `${prefix}a file name is too long for the file system${where}`, { cause: error });
      case "ENOSPC":
        return new EdgeError("disk_full", `${prefix}no space left on device${where}`, { cause: error });
      case "EACCES":
      case "EPERM":
        return new EdgeError("io_error", `${prefix}permission denied${where}`, { cause: error });
      case "ABORT_ERR":
        return new EdgeError("aborted", `${prefix}aborted`, { cause: error });
      default:
        if (error.name === "AbortError") return new EdgeError("aborted", `${prefix}aborted`, { cause: error });
        return new EdgeError("internal", `${prefix}${error.message}`, { cause: error });
    }
  }
  return new EdgeError("internal", `${prefix}${String(error)}`);
}
