/**
 * A message the runner's IPC channel cannot carry fails its request at once in
 * the gateway, and the runner never sees it: a response format nested 3,000
 * levels (which the runner's deserializer used to overflow on, killing the
 * runner and every stream in it), 10,000 levels (which the gateway's serializer
 * used to throw on silently, leaving the request to wait for its deadline),
 * and a value that cannot be serialized at all.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RUNNER_MESSAGE_MAX_DEPTH } from "../../src/engine/runners/runner-message-budget.js";
import { ChildProcessRunner } from "../../src/engine/runners/child-process-runner.js";
import type { GenerateRequest } from "../../src/engine/types.js";
import { isEdgeError } from "../../src/errors.js";
import { TEST_MODEL } from "../helpers.js";

/** `{a: {a: ... 1}}`, `levels` deep, built without recursion. */
function nested(levels: number): Record<string, unknown> {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value as Record<string, unknown>;
}

describe("messages to a runner process stay within what its channel carries", () => {
  let runner: ChildProcessRunner;
  let exits = 0;
  let pid: number | undefined;
  before(async () => {
    runner = new ChildProcessRunner({ name: "stories", path: TEST_MODEL, parallel: 4, contextSize: 256, threads: { decode: 1, prompt: 1 } });
    await runner.start();
    runner.onExit(() => exits++);
    pid = runner.pid;
  });
  after(async () => {
    await runner?.dispose();
  });

  for (const levels of [3000, 10_000]) {
    it(`a response format nested ${levels} levels fails at once with invalid_request; a stream in flight completes`, async () => {
      const other = await runner.generate({ prompt: "Once upon a time", maxTokens: 64, temperature: 0 });
      const started = performance.now();
      const request: GenerateRequest = { prompt: "Once upon a time", maxTokens: 8, responseFormat: { type: "json_schema", schema: nested(levels) } };
      await assert.rejects(runner.generate(request), (error: unknown) => {
        assert.ok(isEdgeError(error));
        assert.equal(error.code, "invalid_request");
        assert.match(error.message, new RegExp(`deeper than ${RUNNER_MESSAGE_MAX_DEPTH} levels`));
        return true;
      });
      assert.ok(performance.now() - started < 1000, "refused without waiting");
      let text = "";
      for await (const chunk of other) text += chunk.text;
      assert.ok(text.length > 0);
      assert.equal((await other.result).finishReason === "length" || (await other.result).finishReason === "stop", true);
      assert.equal(exits, 0);
      assert.equal(runner.pid, pid);
      assert.equal(runner.activeSequences, 0, "nothing left pending");
      assert.ok((await runner.health()).ok);
    });
  }

  it("a message just within the depth budget reaches the runner, which answers and lives on", async () => {
    const request: GenerateRequest = { prompt: "Once upon a time", maxTokens: 4, responseFormat: { type: "json_schema", schema: nested(RUNNER_MESSAGE_MAX_DEPTH - 8) } };
    try {
      const stream = await runner.generate(request);
      for await (const _ of stream);
    } catch (error) {
      // The grammar converter may refuse such a schema; what matters is that the runner answered.
      assert.ok(isEdgeError(error), String(error));
    }
    assert.equal(exits, 0);
    assert.equal(runner.pid, pid);
    assert.ok((await runner.health()).ok);
  });

  it("a request that cannot be serialized fails at once instead of waiting for a reply", async () => {
    const request = { prompt: "Once upon a time", maxTokens: 4, stop: [() => "x"] } as unknown as GenerateRequest;
    await assert.rejects(runner.generate(request), (error: unknown) => isEdgeError(error) && /could not send to runner/.test(error.message));
    assert.equal(runner.activeSequences, 0);
    assert.ok((await runner.health()).ok);
  });
});
