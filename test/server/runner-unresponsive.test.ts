/**
 * A runner that stops answering (SIGSTOP: alive, holding its requests, never
 * replying) is noticed by the gateway's heartbeat, killed and restarted: its
 * in-flight stream fails saying why, the request queued behind it is served
 * by the new runner, and /metrics counts the kill with its reason.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { startOpsGateway, type OpsFixture } from "../ops/ops-gateway-fixture.js";
import { demoModel, waitFor } from "./gateway-fixture.js";

const ENDLESS = { prompt: "Once upon a time", temperature: 0, response_format: { type: "json_object" as const } };

describe("unresponsive runners", () => {
  let fixture: OpsFixture;
  let openai: OpenAI;
  const stopped: number[] = [];
  before(async () => {
    fixture = await startOpsGateway({
      models: [demoModel({ parallel: 1 })],
      config: { server: { runner_heartbeat_ms: 200, runner_unresponsive_ms: 1500 } },
    });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    // Never leave a stopped process behind, whatever the test did.
    for (const pid of stopped) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await fixture?.close();
  });

  it("kills and restarts a runner stopped with SIGSTOP; its stream fails saying why, the queued request is served", async () => {
    const victim = fixture.gateway.pool("demo").runnerProcesses()[0]!;
    const kills: string[] = [];
    fixture.gateway.events.on("runner:kill", (e) => kills.push(`${e.runnerId} ${e.reason}`));
    const stream = await openai.completions.create({ model: "demo", ...ENDLESS, stream: true });
    let queued: Promise<OpenAI.Completion> | undefined;
    let chunks = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of stream) {
          if (++chunks !== 3) continue;
          stopped.push(victim.pid!);
          process.kill(victim.pid!, "SIGSTOP");
          // The one slot is held: this waits in the queue for the runner that replaces the stopped one.
          queued = openai.completions.create({ model: "demo", prompt: "Once upon a time", max_tokens: 5, temperature: 0 });
        }
      })(),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.APIError, String(e));
        assert.match(e.message, /the runner for model demo stopped answering: no health reply within \d+ ms and was killed; the request was not completed/);
        assert.equal((e.error as { code?: string }).code, "runner_crashed");
        return true;
      },
    );
    const served = await queued!;
    assert.equal(served.usage?.completion_tokens, 5);
    assert.deepEqual(kills, [`${victim.id} unresponsive`]);
    const replacement = fixture.gateway.pool("demo").runnerProcesses()[0]!;
    assert.notEqual(replacement.pid, victim.pid);
    await waitFor(() => fixture.gateway.pool("demo").state === "ready", 20_000, "the restarted runner");
    const metrics = await (await fetch(`${fixture.url}/metrics`)).text();
    assert.match(metrics, /^edgelm_runner_kills_total\{model="demo",reason="unresponsive"\} 1$/m);
    assert.match(metrics, /^edgelm_runner_restarts_total\{model="demo"\} 1$/m);
    const ready = await fetch(`${fixture.url}/ready`);
    assert.equal(ready.status, 200);
  });

  it("leaves a runner alone while it answers, however long its requests run", async () => {
    const kills: string[] = [];
    fixture.gateway.events.on("runner:kill", (e) => kills.push(e.runnerId));
    const before = fixture.gateway.pool("demo").runnerProcesses()[0]!.pid;
    const controller = new AbortController();
    const stream = await openai.completions.create({ model: "demo", ...ENDLESS, stream: true }, { signal: controller.signal });
    const started = Date.now();
    let chunks = 0;
    try {
      // Three times the unresponsive deadline of streaming: heartbeats keep being answered.
      for await (const _ of stream) {
        chunks++;
        if (Date.now() - started > 4500) break;
      }
    } finally {
      controller.abort();
    }
    assert.ok(chunks > 10);
    assert.deepEqual(kills, []);
    assert.equal(fixture.gateway.pool("demo").runnerProcesses()[0]!.pid, before);
  });
});
