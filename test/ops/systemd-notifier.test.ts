import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { encodeNotification, SystemdNotifier } from "../../src/ops/systemd-notifier.js";
import { NotifySocket } from "../support/notify-socket.js";

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
