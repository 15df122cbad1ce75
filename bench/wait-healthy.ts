/** Waiting for a server a benchmark started. */
import type { ChildProcess } from "node:child_process";

/**
 * Resolves once `GET url/health` answers 2xx; throws when the process exits first or after `timeoutMs`
 * (default 180 s: a 360M model loads slowly on busy cores).
 */
export async function waitHealthy(url: string, child: ChildProcess, what: string, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${what} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
