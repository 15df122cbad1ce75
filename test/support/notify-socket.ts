/** A real sd_notify socket for tests: an AF_UNIX datagram socket bound by systemd-socket-activate. */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const LISTENER = fileURLToPath(new URL("./datagram-listener.js", import.meta.url));

/** A real AF_UNIX datagram socket at a path, bound by systemd-socket-activate; collects what arrives. */
export class NotifySocket {
  readonly messages: string[] = [];
  private waiters: Array<() => void> = [];
  private constructor(readonly path: string, private readonly child: ChildProcess, private readonly dir: string) {}

  static async open(): Promise<NotifySocket> {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-notify-"));
    const path = join(dir, "notify.sock");
    const child = spawn("systemd-socket-activate", ["--datagram", "-l", path, process.execPath, LISTENER], { stdio: ["ignore", "pipe", "pipe"] });
    const socket = new NotifySocket(path, child, dir);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const event = JSON.parse(line) as { text?: string };
      if (event.text === undefined) return;
      socket.messages.push(event.text);
      for (const wake of socket.waiters.splice(0)) wake();
    });
    // It binds at once and starts the listener on the first datagram (socket activation), which waits in the socket.
    const deadline = Date.now() + 10_000;
    while (!existsSync(path)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`systemd-socket-activate did not bind ${path}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return socket;
  }

  /** Resolves once a message matching `pattern` arrived (rejects after `timeoutMs`). */
  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => pattern.test(m));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no notification matching ${pattern}; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  close(): void {
    this.child.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

