// @ts-check
/**
 * Calls to the gateway from the page: the bearer key (kept in sessionStorage,
 * never in a URL), JSON requests with the gateway's error message on failure,
 * and the two streaming formats (SSE from /v1, NDJSON from /api).
 */

const KEY = "edgelm.key";

/** @returns {string | null} */
export function storedKey() {
  return sessionStorage.getItem(KEY);
}

/** @param {string | null} key */
export function storeKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** An error answer from the gateway: its HTTP status and message. */
export class ApiError extends Error {
  /** @param {number} status @param {string} message @param {string} [code] */
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Request headers with the key.
 * @param {Record<string, string>} [extra]
 * @returns {Record<string, string>}
 */
export function headers(extra = {}) {
  const key = storedKey();
  return { ...extra, ...(key ? { authorization: `Bearer ${key}` } : {}) };
}

/**
 * The message of an error body in any of the gateway's shapes (OpenAI's, Ollama's).
 * @param {Response} response
 * @returns {Promise<ApiError>}
 */
async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  let code;
  try {
    const body = await response.json();
    const error = body?.error;
    if (typeof error === "string") message = error;
    else if (error?.message) [message, code] = [error.message, error.code];
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message, code);
}

/**
 * A request to the gateway; resolves with the Response (status 2xx) or rejects with ApiError.
 * @param {string} path
 * @param {{ method?: string, body?: unknown, signal?: AbortSignal }} [options]
 */
export async function call(path, options = {}) {
  const init = /** @type {RequestInit} */ ({
    method: options.method ?? (options.body === undefined ? "GET" : "POST"),
    headers: headers(options.body === undefined ? {} : { "content-type": "application/json" }),
    cache: "no-store",
  });
  if (options.body !== undefined) init.body = JSON.stringify(options.body);
  if (options.signal) init.signal = options.signal;
  const response = await fetch(path, init);
  if (!response.ok) throw await errorOf(response);
  return response;
}

/**
 * GET or POST JSON and parse the answer.
 * @param {string} path
 * @param {{ method?: string, body?: unknown, signal?: AbortSignal }} [options]
 * @returns {Promise<any>}
 */
export async function json(path, options = {}) {
  return (await call(path, options)).json();
}

/**
 * The lines of a streamed body, as they arrive.
 * @param {Response} response
 * @returns {AsyncGenerator<string>}
 */
export async function* lines(response) {
  if (!response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      yield line;
    }
  }
  if (buffer) yield buffer;
}

/**
 * The JSON events of a server-sent event stream (`data: {...}` lines; `[DONE]` ends it).
 * @param {Response} response
 * @returns {AsyncGenerator<any>}
 */
export async function* sseEvents(response) {
  for await (const line of lines(response)) {
    if (!line.startsWith("data:")) continue;
    const data = line.slice(5).trim();
    if (data === "[DONE]") return;
    if (data) yield JSON.parse(data);
  }
}

/**
 * The objects of an NDJSON stream (Ollama's progress).
 * @param {Response} response
 * @returns {AsyncGenerator<any>}
 */
export async function* ndjson(response) {
  for await (const line of lines(response)) if (line.trim()) yield JSON.parse(line);
}
