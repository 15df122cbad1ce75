/** POSTs JSON and fails with an EdgeError naming the receiver when it cannot be reached or answers non-2xx. */
import { EdgeError } from "../errors.js";

export interface PostJsonOptions {
  timeoutMs: number;
  headers?: Record<string, string>;
  /** The receiver, for error messages. */
  what: string;
}

export async function postJson(url: string, body: unknown, options: PostJsonOptions): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...options.headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    const reason = (error as Error).name === "TimeoutError" ? `no answer within ${options.timeoutMs} ms` : ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
    throw new EdgeError("upstream_unavailable", `${options.what}: ${reason}`);
  }
  const text = await response.text().catch(() => "");
  if (!response.ok) {
    throw new EdgeError("upstream_unavailable", `${options.what} answered ${response.status}${text ? `: ${text.slice(0, 200).trim()}` : ""}`);
  }
}
