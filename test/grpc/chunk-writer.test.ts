import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { GrpcChunkWriter } from "../../src/grpc/chunk-writer.js";

/** A call that records what is written to it. */
function recordingCall(): { call: ServerWritableStream<unknown, unknown>; written: Array<Record<string, any>>; ended: () => boolean } {
  const written: Array<Record<string, any>> = [];
  let ended = false;
  const call = { cancelled: false, write: (m: Record<string, any>) => written.push(structuredClone(m)), end: () => (ended = true) };
  return { call: call as unknown as ServerWritableStream<unknown, unknown>, written, ended: () => ended };
}

/** Long enough that a loaded machine's timers cannot outlast it between two steps of a test. */
const INTERVAL_MS = 300;

const piece = (text: string, id: number, logprob?: number) => ({ text, token_ids: [id], ...(logprob !== undefined ? { logprobs: [{ token: text, id, logprob, top: [] }] } : {}) });

describe("gRPC chunk writer", () => {
  it("sends the first piece at once and merges pieces that arrive within the flush interval, in order", async () => {
    const { call, written, ended } = recordingCall();
    const writer = new GrpcChunkWriter(call, INTERVAL_MS);
    writer.chunk(piece("Once", 1, -0.1));
    await sleep(0);
    assert.deepEqual(written.map((m) => m.chunk.text), ["Once"]);
    writer.chunk(piece(" upon", 2, -0.2));
    writer.chunk(piece(" a", 3, -0.3));
    writer.chunk(piece(" time", 4, -0.4));
    await sleep(0);
    assert.equal(written.length, 1, "pieces inside the interval wait for it");
    await sleep(INTERVAL_MS + 50);
    assert.equal(written.length, 2);
    assert.deepEqual(written[1]!.chunk, {
      text: " upon a time",
      token_ids: [2, 3, 4],
      logprobs: [-0.2, -0.3, -0.4].map((logprob, i) => ({ token: [" upon", " a", " time"][i], id: i + 2, logprob, top: [] })),
    });
    writer.chunk(piece(".", 5));
    writer.end({ finish_reason: "FINISH_REASON_STOP" });
    assert.deepEqual(
      written.map((m) => (m.chunk ? m.chunk.text : "done")),
      ["Once", " upon a time", ".", "done"],
      "what is pending leaves before Done",
    );
    assert.ok(ended());
  });

  it("writes what is pending before a failure's status, and nothing to a cancelled call", async () => {
    const first = recordingCall();
    const writer = new GrpcChunkWriter(first.call, INTERVAL_MS);
    writer.chunk(piece("a", 1));
    writer.chunk(piece("b", 2));
    writer.flushNow();
    assert.deepEqual(first.written.map((m) => m.chunk.token_ids), [[1, 2]]);

    const second = recordingCall();
    const cancelled = new GrpcChunkWriter(second.call, INTERVAL_MS);
    (second.call as unknown as { cancelled: boolean }).cancelled = true;
    cancelled.chunk(piece("c", 3));
    cancelled.flushNow();
    await sleep(INTERVAL_MS + 50);
    assert.deepEqual(second.written, []);
  });
});
