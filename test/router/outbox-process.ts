/** Runs outbox-child.ts in a child process for crash tests, and a polling wait. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("./outbox-child.js", import.meta.url));

/** Starts test/router/outbox-child.ts (see there for modes and env); `waitFor` resolves once a stdout line matches. */
export function startChild(
  dir: string,
  mode: string,
  count: number,
  url: string,
  extra: { size?: number; env?: Record<string, string> } = {},
): { child: ChildProcess; lines: string[]; waitFor: (re: RegExp) => Promise<void> } {
  const args = [CHILD, dir, mode, String(count), ...(extra.size !== undefined ? [String(extra.size)] : [])];
  const child = spawn(process.execPath, args, { env: { ...process.env, RECEIVER_URL: url, ...extra.env }, stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  let partial = "";
  child.stdout!.on("data", (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split("\n");
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) if (w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const waitFor = (re: RegExp): Promise<void> =>
    lines.some((l) => re.test(l)) ? Promise.resolve() : new Promise((resolve) => waiters.push({ re, resolve }));
  return { child, lines, waitFor };
}

/** Polls `check` every 20 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

