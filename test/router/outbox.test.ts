import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Outbox, type OutboxRecord } from "../../src/router/outbox.js";
import { startDedupReceiver } from "./dedup-receiver.js";

const CHILD = fileURLToPath(new URL("./outbox-child.js", import.meta.url));

function startChild(dir: string, mode: string, count: number, url: string): { child: ChildProcess; lines: string[]; waitFor: (re: RegExp) => Promise<void> } {
  const child = spawn(process.execPath, [CHILD, dir, mode, String(count)], { env: { ...process.env, RECEIVER_URL: url }, stdio: ["ignore", "pipe", "inherit"] });
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

async function waitUntil(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("durable outbox", () => {
  it("keeps events across a restart and forwards them in order once the receiver is up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    try {
      let up = false;
      const got: OutboxRecord[] = [];
      const deliver = async (record: OutboxRecord) => {
        if (!up) throw new Error("receiver down");
        got.push(record);
      };
      const first = new Outbox({ dir, deliver, retryBaseMs: 5, retryMaxMs: 20, segmentBytes: 2048 });
      await first.start();
      for (let i = 0; i < 50; i++) await first.append({ i });
      assert.equal(first.backlog, 50);
      await first.stop();
      up = true;
      const second = new Outbox({ dir, deliver, retryBaseMs: 5, retryMaxMs: 20, segmentBytes: 2048 });
      await second.start();
      await waitUntil(() => got.length === 50, "50 deliveries");
      assert.deepEqual(got.map((r) => (r.body as { i: number }).i), [...Array(50).keys()]);
      assert.deepEqual(got.map((r) => r.seq), [...Array(50).keys()].map((i) => i + 1));
      await second.append({ i: 50 });
      await waitUntil(() => got.length === 51, "the 51st delivery");
      assert.equal(got[50]!.seq, 51);
      await second.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("survives kill -9 with 1,000 queued events and again mid-forward; the receiver gets each exactly once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    // After 300 events the receiver stops answering: the forwarder is surely mid-forward when it is killed.
    const receiver = await startDedupReceiver(0, undefined, { holdAfter: 300 });
    const down = "http://127.0.0.1:9/v1/events"; // nothing listens on the discard port
    try {
      const writer = startChild(dir, "append", 1000, down);
      await writer.waitFor(/^appended 1000$/);
      writer.child.kill("SIGKILL");
      await new Promise((r) => writer.child.once("exit", r));

      const forwarder = startChild(dir, "idle", 0, receiver.url);
      await forwarder.waitFor(/^started backlog 1000$/);
      await waitUntil(() => receiver.keys.length >= 300 && receiver.held() > 0, "300 deliveries and one in flight");
      forwarder.child.kill("SIGKILL");
      await new Promise((r) => forwarder.child.once("exit", r));
      assert.ok(receiver.keys.length < 1000, `killed mid-forward (${receiver.keys.length} of 1000 received)`);
      receiver.release();

      const again = startChild(dir, "idle", 0, receiver.url);
      await waitUntil(() => receiver.keys.length === 1000, "all 1000 deliveries");
      await new Promise((r) => setTimeout(r, 200));
      again.child.kill("SIGKILL");
      assert.deepEqual(receiver.keys, [...Array(1000).keys()].map((i) => `event-${i}`), "every event once, in order");
      assert.ok(receiver.posts() <= 1002, `at most the in-flight event is sent twice per crash (${receiver.posts()} posts)`);
    } finally {
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
