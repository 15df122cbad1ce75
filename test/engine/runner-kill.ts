/** What every runner must do when its process is killed mid-stream, for each backend's tests. */
import assert from "node:assert/strict";
import type { Runner, RunnerExit } from "../../src/engine/runner.js";
import type { GenerateRequest } from "../../src/engine/types.js";
import { isEdgeError } from "../../src/errors.js";

/**
 * Starts `request` on a started runner, SIGKILLs the process after two chunks, and
 * checks that the stream and its result fail with runner_crashed, the exit is
 * reported as unexpected, and later work fails the same way.
 */
export async function assertKilledMidStream(runner: Runner, request: GenerateRequest): Promise<void> {
  const exit = new Promise<RunnerExit>((resolve) => runner.onExit(resolve));
  const stream = await runner.generate(request);
  let chunks = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of stream) if (++chunks === 2) runner.kill("SIGKILL");
    })(),
    (e: unknown) => {
      assert.ok(isEdgeError(e));
      assert.equal(e.code, "runner_crashed");
      assert.match(e.message, /stopped unexpectedly \(killed by SIGKILL\)/);
      return true;
    },
  );
  await assert.rejects(stream.result, (e: unknown) => isEdgeError(e) && e.code === "runner_crashed");
  const exited = await exit;
  assert.equal(exited.expected, false);
  assert.equal(exited.signal, "SIGKILL");
  await assert.rejects(runner.embed(["x"]), (e: unknown) => isEdgeError(e) && e.code === "runner_crashed");
}
