import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EdgeError } from "../../src/errors.js";
import type { RunnerExit } from "../../src/engine/runner.js";
import { abortError, describeExit, RunnerLifecycle } from "../../src/engine/runner-lifecycle.js";

describe("runner lifecycle", () => {
  it("refuses work until ready, then fails what is in flight with runner_crashed on an unasked exit", async () => {
    const failed: EdgeError[] = [];
    const lifecycle = new RunnerLifecycle("stories", (error) => failed.push(error));
    assert.equal(lifecycle.state, "starting");
    assert.equal(lifecycle.refusal("stories#1")?.code, "model_not_ready");
    lifecycle.markReady();
    assert.equal(lifecycle.refusal("stories#1"), undefined);
    const controller = new AbortController();
    controller.abort(new EdgeError("timeout", "too slow"));
    assert.equal(lifecycle.refusal("stories#1", controller.signal)?.code, "timeout");

    const exits: RunnerExit[] = [];
    lifecycle.onExit((exit) => exits.push(exit));
    const unsubscribed: RunnerExit[] = [];
    lifecycle.onExit((exit) => unsubscribed.push(exit))();
    const exit = lifecycle.exit({ code: null, signal: "SIGKILL" });
    assert.equal(exit.expected, false);
    assert.equal(exit.error?.code, "runner_crashed");
    assert.match(exit.error!.message, /stories stopped unexpectedly \(killed by SIGKILL\)/);
    assert.deepEqual(failed, [exit.error]);
    assert.deepEqual(exits, [exit]);
    assert.deepEqual(unsubscribed, []);
    assert.equal(lifecycle.state, "exited");
    // New work gets the crash itself; a second exit changes nothing.
    assert.equal(lifecycle.refusal("stories#1"), exit.error);
    assert.equal(lifecycle.exit({ code: 0, signal: null }), exit);
    assert.equal(failed.length, 1);
    // A listener added after the exit still hears it, once.
    const late = await new Promise<RunnerExit>((resolve) => lifecycle.onExit(resolve));
    assert.equal(late, exit);
  });

  it("an asked-for stop refuses new work at once and its exit is expected", () => {
    const failed: EdgeError[] = [];
    const lifecycle = new RunnerLifecycle("demo", (error) => failed.push(error));
    lifecycle.markReady();
    lifecycle.requestStop({ stopping: true });
    assert.equal(lifecycle.state, "stopping");
    assert.match(lifecycle.refusal("demo#2")!.message, /runner demo#2 is stopping/);
    const exit = lifecycle.exit({ code: 0, signal: null });
    assert.equal(exit.expected, true);
    assert.equal(exit.error, undefined);
    assert.equal(failed[0]?.code, "model_not_ready");
    assert.match(failed[0]!.message, /the runner for demo was stopped/);
  });

  it("describes exits and cancellations", () => {
    assert.equal(describeExit({ code: 3, signal: null }), "exit code 3");
    assert.equal(describeExit({ code: null, signal: "SIGSEGV" }), "killed by SIGSEGV");
    assert.equal(describeExit({ code: null, signal: null }), "could not start");
    const plain = new AbortController();
    plain.abort();
    assert.equal(abortError(plain.signal).code, "aborted");
    const shutdown = new AbortController();
    shutdown.abort(new EdgeError("shutting_down", "bye"));
    assert.equal(abortError(shutdown.signal).code, "shutting_down");
  });
});
