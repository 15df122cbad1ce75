import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProgressBar } from "../../src/cli/progress-bar.js";

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { written: string } {
  const stream = { isTTY, columns: 120, written: "", write(text: string) { stream.written += text; return true; } };
  return stream as unknown as NodeJS.WriteStream & { written: string };
}

describe("progress bar", () => {
  it("draws on a terminal, within its width, and clears itself", () => {
    const out = fakeStream(true);
    const bar = new ProgressBar("quantizing", out);
    bar.update(0, 1000, "blk.0.attn_q.weight");
    bar.update(500, 1000, "blk.1.attn_q.weight"); // within 100 ms: skipped
    bar.update(1000, 1000, "output.weight"); // the end is always drawn
    const frames = out.written.split("\r").filter((f) => f.length > 0);
    assert.equal(frames.length, 2);
    assert.match(frames[1]!, /^quantizing \[#{24}\] 100% 1\.0 KB\/1\.0 KB .*output\.weight/);
    for (const frame of frames) assert.ok(frame.replace("\x1b[K", "").length < 120);
    bar.done();
    assert.ok(out.written.endsWith("\r\x1b[K"));
  });

  it("prints nothing when the stream is not a terminal", () => {
    const out = fakeStream(false);
    const bar = new ProgressBar("quantizing", out);
    bar.update(10, 100);
    bar.done();
    assert.equal(out.written, "");
  });
});
