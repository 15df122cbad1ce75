import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isEdgeError, EdgeError } from "../../src/errors.js";
import { AdmissionQueue } from "../../src/scheduler/admission-queue.js";

/** A queue in front of `slots` numbered slots. */
function queueWith(slots: number, limit: number) {
  const free = Array.from({ length: slots }, (_, i) => i);
  const queue = new AdmissionQueue<number>({ limit, tryTake: () => free.shift(), capacity: () => slots, label: "model test" });
  const release = (slot: number): void => {
    free.push(slot);
    queue.pump();
  };
  return { queue, release };
}

describe("AdmissionQueue", () => {
  it("admits at once while slots are free, then in arrival order", async () => {
    const { queue, release } = queueWith(2, 10);
    assert.equal(await queue.acquire(), 0);
    assert.equal(await queue.acquire(), 1);
    const order: string[] = [];
    const a = queue.acquire().then((slot) => (order.push("a"), slot));
    const b = queue.acquire().then((slot) => (order.push("b"), slot));
    assert.equal(queue.waiting, 2);
    release(1);
    assert.equal(await a, 1);
    release(0);
    assert.equal(await b, 0);
    assert.deepEqual(order, ["a", "b"]);
    assert.equal(queue.waiting, 0);
  });

  it("refuses at once with queue_full and a Retry-After when the line is full", async () => {
    const { queue } = queueWith(1, 1);
    await queue.acquire();
    queue.recordService(4000);
    const waiting = queue.acquire();
    await assert.rejects(queue.acquire(), (e: unknown) => {
      assert.ok(isEdgeError(e));
      assert.equal(e.code, "queue_full");
      assert.equal(e.status, 429);
      // One waiter ahead, one slot, 4 s per request: about 8 s.
      assert.equal(e.retryAfter, 8);
      assert.match(e.message, /all 1 slots are generating and 1 requests are waiting/);
      return true;
    });
    queue.rejectAll(new EdgeError("shutting_down", "bye"));
    await assert.rejects(waiting, (e: unknown) => isEdgeError(e) && e.code === "shutting_down");
  });

  it("with a limit of 0 nobody waits", async () => {
    const { queue } = queueWith(1, 0);
    await queue.acquire();
    await assert.rejects(queue.acquire(), (e: unknown) => isEdgeError(e) && e.code === "queue_full" && e.retryAfter === 1);
  });

  it("drops a cancelled waiter with the signal's reason and keeps the others' order", async () => {
    const { queue, release } = queueWith(1, 5);
    await queue.acquire();
    const controller = new AbortController();
    const cancelled = queue.acquire(controller.signal);
    const next = queue.acquire();
    controller.abort(new EdgeError("timeout", "too slow"));
    await assert.rejects(cancelled, (e: unknown) => isEdgeError(e) && e.code === "timeout");
    assert.equal(queue.waiting, 1);
    release(0);
    assert.equal(await next, 0);
    const plain = new AbortController();
    plain.abort();
    await assert.rejects(queue.acquire(plain.signal), (e: unknown) => isEdgeError(e) && e.code === "aborted");
  });
});
