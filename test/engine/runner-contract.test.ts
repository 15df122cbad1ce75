import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import { ChildProcessRunner } from "../../src/engine/runners/child-process-runner.js";
import type { RunnerExit } from "../../src/engine/runner.js";
import { isEdgeError } from "../../src/errors.js";
import { TEST_MODEL } from "../helpers.js";
import { loadedModelContract } from "./loaded-model-contract.js";
import { toolCallingContract } from "./tool-calling-contract.js";
import { assertKilledMidStream } from "./runner-kill.js";
import { assertConfined, testSandbox } from "./sandbox/test-sandbox.js";

const options = { path: TEST_MODEL, parallel: 4, contextSize: 256, threads: { decode: 1, prompt: 1 } };

loadedModelContract("node-llama-cpp in process", () => new NodeLlamaCppBackend().load(options));

loadedModelContract("node-llama-cpp runner process", async () => {
  const runner = new ChildProcessRunner({ ...options, name: "stories" });
  await runner.start();
  return runner;
});

loadedModelContract("node-llama-cpp runner process, sandboxed", async () => {
  const runner = new ChildProcessRunner({ ...options, name: "stories" }, { sandbox: testSandbox() });
  await runner.start();
  assertConfined(runner.pid);
  return runner;
});

describe("node-llama-cpp runner process", () => {
  it("reports health with IPC counters and stops cleanly on dispose", async () => {
    const runner = new ChildProcessRunner({ ...options, name: "stories" });
    const info = await runner.start();
    assert.equal(info.parallel, 4);
    assert.equal(runner.state, "ready");
    assert.ok(runner.pid && runner.pid !== process.pid);
    const stream = await runner.generate({ prompt: "Once upon a time", maxTokens: 16, temperature: 0 });
    for await (const _ of stream);
    const health = await runner.health();
    assert.ok(health.ok);
    assert.ok(health.rssBytes > 10 * 1024 * 1024);
    assert.ok(health.messagesSent >= 1 && health.eventsSent >= health.messagesSent);
    const exits: RunnerExit[] = [];
    runner.onExit((exit) => exits.push(exit));
    await runner.dispose();
    assert.equal(runner.state, "exited");
    assert.equal(exits.length, 1);
    assert.equal(exits[0]!.expected, true);
    await assert.rejects(runner.generate({ prompt: "Once" }), (e: unknown) => isEdgeError(e) && e.code === "model_not_ready");
  });

  it("fails in-flight work with runner_crashed when the process is killed", async () => {
    const runner = new ChildProcessRunner({ ...options, name: "stories" });
    await runner.start();
    await assertKilledMidStream(runner, { prompt: "Once upon a time", maxTokens: -1, temperature: 0.8, seed: 1 });
  });

  it("reports a file llama.cpp cannot load as a load failure", async () => {
    const runner = new ChildProcessRunner({ name: "missing", path: "/nonexistent/model.gguf" });
    await assert.rejects(runner.start(), (e: unknown) => isEdgeError(e) && e.code === "file_not_found");
    assert.equal(runner.state, "exited");
  });
});

toolCallingContract("node-llama-cpp in process", (path) => new NodeLlamaCppBackend().load({ ...options, path, parallel: 2, contextSize: 1024 }));

toolCallingContract("node-llama-cpp runner process", async (path) => {
  const runner = new ChildProcessRunner({ ...options, path, parallel: 2, contextSize: 1024, name: "stories-hermes" });
  await runner.start();
  return runner;
});
