import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isEdgeError } from "../../src/errors.js";
import { Outbox, type OutboxRecord } from "../../src/router/outbox.js";
import { startDedupReceiver } from "./dedup-receiver.js";
import { startChild, waitUntil } from "./outbox-process.js";

describe("durable outbox", () => {
  it("keeps events across a restart and forwards them in order once the receiver is up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    try {
      let up = false;
      const got: OutboxRecord[] = [];
      const sink = {
        name: "test",
        deliver: async (records: OutboxRecord[]) => {
          if (!up) throw new Error("receiver down");
          got.push(...records);
          return { delivered: records.length };
        },
      };
      const first = new Outbox({ dir, sinks: [sink], retryBaseMs: 5, retryMaxMs: 20, segmentBytes: 2048 });
      await first.start();
      for (let i = 0; i < 50; i++) await first.append({ i });
      assert.equal(first.backlog, 50);
      await first.stop();
      up = true;
      const second = new Outbox({ dir, sinks: [sink], retryBaseMs: 5, retryMaxMs: 20, segmentBytes: 2048 });
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

  it("refuses appends past its event and byte limits with outbox_full, loses none it accepted, and accepts again once delivered", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    let up = false;
    const got: OutboxRecord[] = [];
    const sink = {
      name: "test",
      deliver: async (records: OutboxRecord[]) => {
        if (!up) return { delivered: 0, error: new Error("receiver down") };
        got.push(...records);
        return { delivered: records.length };
      },
    };
    const byEvents = new Outbox({ dir: join(dir, "events"), sinks: [sink], retryBaseMs: 5, retryMaxMs: 10, maxBacklogEvents: 10 });
    const byBytes = new Outbox({ dir: join(dir, "bytes"), sinks: [sink], retryBaseMs: 5, retryMaxMs: 10, maxBacklogBytes: 64 * 1024, segmentBytes: 4096 });
    try {
      await byEvents.start();
      for (let i = 0; i < 10; i++) await byEvents.append({ i });
      await assert.rejects(byEvents.append({ i: 10 }), (e: unknown) => isEdgeError(e) && e.code === "outbox_full" && e.status === 507 && /max_backlog_events/.test(e.message));
      assert.equal(byEvents.stats().refused, 1);
      up = true;
      await waitUntil(() => got.length === 10, "the 10 accepted events");
      await byEvents.append({ i: 11 });
      await waitUntil(() => got.length === 11, "the event accepted after the backlog drained");
      assert.deepEqual(got.map((r) => (r.body as { i: number }).i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11]);

      // Bytes: 5 KB events against a 64 KiB journal.
      up = false;
      got.length = 0;
      await byBytes.start();
      const big = "y".repeat(5000);
      let accepted = 0;
      let refusal: unknown;
      for (let i = 0; i < 20 && refusal === undefined; i++) {
        await byBytes.append({ big, i }).then(() => accepted++, (e: unknown) => (refusal = e));
      }
      assert.ok(isEdgeError(refusal) && refusal.code === "outbox_full" && /max_backlog_bytes/.test(refusal.message), String(refusal));
      assert.ok(accepted >= 11 && accepted <= 13, `about 64 KiB of 5 KB events accepted (${accepted})`);
      assert.ok(byBytes.journalBytes <= 64 * 1024, `journal ${byBytes.journalBytes} bytes`);
      up = true;
      await waitUntil(() => got.length === accepted, "every accepted big event");
      assert.deepEqual(got.map((r) => (r.body as { i: number }).i), [...Array(accepted).keys()]);
    } finally {
      await byEvents.stop();
      await byBytes.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("restarts after kill -9 with a 96 MB backlog without loading it (RSS bounded) and delivers it all once, in order", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    const empty = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    const down = "http://127.0.0.1:9/v1/events";
    const env = { SEGMENT_BYTES: String(8 * 1024 * 1024) };
    const peakRss = (lines: string[]): number => Math.max(...lines.filter((l) => l.startsWith("rss ")).map((l) => Number(l.slice(4))));
    let receiver: Awaited<ReturnType<typeof startDedupReceiver>> | undefined;
    try {
      const writer = startChild(dir, "fill", 1200, down, { size: 80_000, env });
      await writer.waitFor(/^filled 1200$/);
      writer.child.kill("SIGKILL");
      await new Promise((r) => writer.child.once("exit", r));

      // The same process with an empty journal, for the baseline.
      const baseline = startChild(empty, "idle", 0, down, { env });
      await baseline.waitFor(/^rss /);
      await new Promise((r) => setTimeout(r, 1000));
      baseline.child.kill("SIGKILL");
      const base = peakRss(baseline.lines);

      const restarted = startChild(dir, "idle", 0, down, { env });
      await restarted.waitFor(/^started backlog 1200$/);
      await new Promise((r) => setTimeout(r, 1000)); // several failed delivery rounds, each reading a batch
      restarted.child.kill("SIGKILL");
      await new Promise((r) => restarted.child.once("exit", r));
      const grown = peakRss(restarted.lines) - base;
      // Loading the whole journal (as before streaming) costs more than the 96 MB backlog itself.
      assert.ok(grown < 32 * 1024 * 1024, `RSS grew ${Math.round(grown / 1048576)} MB over an idle outbox with a 96 MB backlog`);

      receiver = await startDedupReceiver();
      const forwarder = startChild(dir, "idle", 0, receiver.url, { env });
      await waitUntil(() => receiver!.keys.length === 1200, "all 1200 big events", 120_000);
      forwarder.child.kill("SIGKILL");
      await new Promise((r) => forwarder.child.once("exit", r));
      // Delivering churns batches of 80 KB strings that wait for V8's major GC; still well below the backlog's size.
      const delivering = peakRss(forwarder.lines) - base;
      assert.ok(delivering < 64 * 1024 * 1024, `RSS while delivering ${Math.round(delivering / 1048576)} MB over idle, with a 96 MB backlog`);
      assert.deepEqual(receiver.keys, [...Array(1200).keys()].map((i) => `event-${i}`));
    } finally {
      await receiver?.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
