import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { encodeNotification, SystemdNotifier } from "../../src/ops/systemd-notifier.js";

const LISTENER = fileURLToPath(new URL("../support/datagram-listener.js", import.meta.url));

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

describe("systemd notifier", () => {
  let socket: NotifySocket;
  before(async () => {
    socket = await NotifySocket.open();
  });
  after(() => socket.close());

  it("encodes newline-separated assignments and refuses bad keys", () => {
    assert.equal(encodeNotification({ READY: 1, STATUS: "two\nlines" }), "READY=1\nSTATUS=two lines\n");
    assert.throws(() => encodeNotification({ "ready=1\nX": 1 }), /upper-case/);
  });

  it("is absent without NOTIFY_SOCKET and honours WATCHDOG_PID", () => {
    assert.equal(SystemdNotifier.fromEnvironment({}), undefined);
    assert.equal(SystemdNotifier.fromEnvironment({ NOTIFY_SOCKET: "/x", WATCHDOG_USEC: "30000000" }, 42)?.watchdogIntervalMs, 15_000);
    assert.equal(SystemdNotifier.fromEnvironment({ NOTIFY_SOCKET: "/x", WATCHDOG_USEC: "30000000", WATCHDOG_PID: "7" }, 42)?.watchdogIntervalMs, undefined);
  });

  it("delivers READY=1 with a status and the main pid as one datagram to a real socket", async () => {
    const notifier = SystemdNotifier.fromEnvironment({ NOTIFY_SOCKET: socket.path })!;
    assert.equal(await notifier.ready("serving 1 model"), true);
    const message = await socket.waitFor(/READY=1/);
    assert.deepEqual(message.trimEnd().split("\n"), ["READY=1", "STATUS=serving 1 model", `MAINPID=${process.pid}`]);
  });

  it("pings WATCHDOG=1 at half the interval, and stops on STOPPING=1", async () => {
    const notifier = SystemdNotifier.fromEnvironment({ NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: "400000" })!;
    const before = socket.messages.length;
    notifier.startWatchdog();
    await socket.waitFor(/^WATCHDOG=1$/);
    await new Promise((r) => setTimeout(r, 700));
    const pings = socket.messages.slice(before).filter((m) => m === "WATCHDOG=1").length;
    assert.ok(pings >= 2, `${pings} pings in about 1 s at a 200 ms period`);
    await notifier.stopping("stopping");
    await socket.waitFor(/STOPPING=1/);
    const after = socket.messages.length;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(socket.messages.slice(after).filter((m) => m.startsWith("WATCHDOG")).length, 0);
  });

  it("reports a send that cannot reach the socket as false, without throwing", async () => {
    const notifier = new SystemdNotifier({ socket: join(tmpdir(), "edgelm-no-such-notify.sock") });
    assert.equal(await notifier.status("nobody listens"), false);
  });
});
