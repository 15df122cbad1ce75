import assert from "node:assert/strict";
import { copyFileSync, openSync, closeSync, ftruncateSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { loadConfig } from "../../src/config/load-config.js";
import type { Runner, RunnerFactory, RunnerSpec } from "../../src/engine/runner.js";
import { ChildProcessRunnerFactory } from "../../src/engine/runners/child-process-runner.js";
import { isEdgeError } from "../../src/errors.js";
import { GatewayEvents, type RunnerExitEvent } from "../../src/scheduler/gateway-events.js";
import { ModelPool } from "../../src/scheduler/model-pool.js";
import { tempHome, TEST_MODEL } from "../helpers.js";
import { demoModel, startGateway, storiesModel, waitFor, type GatewayFixture } from "./gateway-fixture.js";

const ENDLESS = { prompt: "Once upon a time", temperature: 0, response_format: { type: "json_object" as const } };

describe("runner crashes", () => {
  let fixture: GatewayFixture;
  let openai: OpenAI;
  before(async () => {
    fixture = await startGateway({ models: [demoModel({ parallel: 2 })] });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => fixture?.close());

  const runner = () => fixture.gateway.pool("demo").runnerProcesses()[0]!;
  const waitReady = () => waitFor(() => fixture.gateway.pool("demo").state === "ready", 20_000, "the restarted runner");

  it("ends an in-flight stream with an error event when its runner is killed; the next request succeeds", async () => {
    const exits: RunnerExitEvent[] = [];
    fixture.gateway.events.on("runner:exit", (e) => exits.push(e));
    const victim = runner();
    const stream = await openai.completions.create({ model: "demo", ...ENDLESS, stream: true });
    let chunks = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of stream) if (++chunks === 5) process.kill(victim.pid!, "SIGKILL");
      })(),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.APIError, String(e));
        assert.match(e.message, /the runner for model demo stopped unexpectedly \(killed by SIGKILL\)/);
        assert.equal((e.error as any)?.code, "runner_crashed");
        return true;
      },
    );
    assert.ok(chunks >= 5);
    // The next request waits for the restart instead of failing.
    const next = await openai.completions.create({ model: "demo", prompt: "Once upon a time", max_tokens: 5, temperature: 0 });
    assert.equal(next.usage!.completion_tokens, 5);
    assert.notEqual(runner().pid, victim.pid);
    assert.deepEqual(
      exits.map((e) => [e.runnerId, e.expected, e.signal]),
      [[victim.id, false, "SIGKILL"]],
    );
  });

  it("answers 503 when the runner dies before the first token, and NDJSON error lines after it", async () => {
    await waitReady();
    const victim = runner();
    process.kill(victim.pid!, "SIGSTOP");
    const pending = fetch(`${fixture.url}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "demo", messages: [{ role: "user", content: "Hi" }], stream: true }),
    });
    await waitFor(() => fixture.gateway.pool("demo").describe().queue.inFlight === 1, 5000, "the request to reach the runner");
    process.kill(victim.pid!, "SIGKILL");
    const response = await pending;
    assert.equal(response.status, 503);
    const body = (await response.json()) as any;
    assert.equal(body.error.code, "runner_crashed");
    assert.equal(body.error.type, "server_error");

    await waitReady();
    const ollama = new Ollama({ host: fixture.url });
    const stream = await ollama.generate({ model: "demo", prompt: "Once upon a time", format: "json", stream: true, options: { temperature: 0 } });
    let parts = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of stream) if (++parts === 5) process.kill(runner().pid!, "SIGKILL");
      })(),
      /stopped unexpectedly \(killed by SIGKILL\)/,
    );
    const again = await ollama.generate({ model: "demo", prompt: "Once upon a time", stream: false, options: { num_predict: 4, temperature: 0 } });
    assert.equal(again.eval_count, 4);
  });
});

describe("serving while changing: swap, add and remove runners", () => {
  let fixture: GatewayFixture;
  let openai: OpenAI;
  before(async () => {
    fixture = await startGateway({ models: [storiesModel({ parallel: 2 })] });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => fixture?.close());

  it("adds a runner that takes requests, and removes it again", async () => {
    const added = await fixture.gateway.addRunner("stories");
    assert.equal(added.state, "ready");
    assert.equal(fixture.gateway.pool("stories").describe().queue.capacity, 4);
    const used = new Set<string>();
    let admissions = 0;
    const onAdmitted = (e: { runnerId: string }) => {
      used.add(e.runnerId);
      admissions++;
    };
    fixture.gateway.events.on("request:admitted", onAdmitted);
    // Both runners paused: no request can finish before all four hold a slot, so they surely overlap.
    const pids = fixture.gateway.pool("stories").describe().runners.map((r) => r.pid!);
    for (const pid of pids) process.kill(pid, "SIGSTOP");
    let requests: Promise<unknown>;
    try {
      requests = Promise.all(Array.from({ length: 4 }, () => openai.completions.create({ model: "stories", prompt: "Once", max_tokens: 40 })));
      await waitFor(() => admissions === 4, 10_000, "four requests holding a slot at once");
    } finally {
      for (const pid of pids) process.kill(pid, "SIGCONT");
    }
    await requests;
    fixture.gateway.events.off("request:admitted", onAdmitted);
    assert.equal(used.size, 2);
    await fixture.gateway.removeRunner("stories", added.id);
    const status = fixture.gateway.pool("stories").describe();
    assert.equal(status.runners.length, 1);
    assert.equal(status.queue.capacity, 2);
    await assert.rejects(fixture.gateway.removeRunner("stories"), (e: unknown) => isEdgeError(e) && /last runner/.test(e.message));
  });

  it("swaps drain-first: the request in flight finishes, the one waiting is served by the new runner", async () => {
    const admissions: Array<{ runnerId: string }> = [];
    const onAdmitted = (e: { runnerId: string }): void => void admissions.push(e);
    fixture.gateway.events.on("request:admitted", onAdmitted);
    const admitted = new Promise<void>((resolve) => fixture.gateway.events.once("request:admitted", () => resolve()));
    const inFlight = openai.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 256, temperature: 0 });
    await admitted;
    const swapped = fixture.gateway.swapModel("stories", { ref: TEST_MODEL, parallel: 3 }, { mode: "drain-first" });
    // The swap verifies the new file first; the request "waits" only once the old runner stopped taking new ones.
    await waitFor(() => fixture.gateway.pool("stories").describe().runners.every((r) => r.draining), 20_000, "the old runner draining");
    const waiting = openai.completions.create({ model: "stories", prompt: "Once", max_tokens: 4, temperature: 0 });
    assert.equal((await inFlight).usage!.completion_tokens, 256);
    await swapped;
    assert.equal((await waiting).usage!.completion_tokens, 4);
    fixture.gateway.events.off("request:admitted", onAdmitted);
    const status = fixture.gateway.pool("stories").describe();
    assert.equal(status.queue.capacity, 3);
    assert.equal(status.runners.length, 1);
    // The waiting request was admitted once, by the runner that serves now — not the drained one.
    assert.equal(admissions.length, 2);
    const [first, second] = admissions as [{ runnerId: string }, { runnerId: string }];
    assert.notEqual(second.runnerId, first.runnerId);
    assert.equal(second.runnerId, status.runners[0]!.id);
  });

  it("swaps the model with zero failed requests while 4 clients stream", async () => {
    const before = fixture.gateway.pool("stories").describe();
    let stop = false;
    let failures = 0;
    let completed = 0;
    const servedBy = new Map<string, number>();
    const onAdmitted = (e: { runnerId: string }) => servedBy.set(e.runnerId, (servedBy.get(e.runnerId) ?? 0) + 1);
    fixture.gateway.events.on("request:admitted", onAdmitted);
    const client = async () => {
      while (!stop) {
        try {
          const stream = await openai.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 24, stream: true });
          for await (const _ of stream);
          completed++;
        } catch {
          failures++;
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    await waitFor(() => completed >= 4, 20_000, "traffic");
    await fixture.gateway.swapModel("stories", "demo", { waitForDrain: true });
    const afterSwap = completed;
    await waitFor(() => completed >= afterSwap + 8, 20_000, "traffic after the swap");
    stop = true;
    await Promise.all(clients);
    fixture.gateway.events.off("request:admitted", onAdmitted);
    assert.equal(failures, 0);
    const now = fixture.gateway.pool("stories").describe();
    assert.equal(now.ref, "demo");
    assert.match(now.path, /demo-model\.gguf$/);
    assert.equal(now.runners.length, 1);
    assert.notEqual(now.runners[0]!.id, before.runners[0]!.id);
    assert.ok((servedBy.get(now.runners[0]!.id) ?? 0) >= 8, JSON.stringify([...servedBy]));
    assert.ok((servedBy.get(before.runners[0]!.id) ?? 0) >= 4);
    // The model answers as the demo model now.
    const r = await openai.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
    assert.equal(r.model, "stories");
  });

  it("adds and removes whole models while serving", async () => {
    const status = await fixture.gateway.addModel(demoModel({ name: "extra", parallel: 1 }));
    assert.equal(status.state, "ready");
    const r = await openai.completions.create({ model: "extra", prompt: "Once", max_tokens: 2 });
    assert.equal(r.usage!.completion_tokens, 2);
    await assert.rejects(fixture.gateway.addModel(demoModel({ name: "extra" })), (e: unknown) => isEdgeError(e) && /already served/.test(e.message));
    fixture.gateway.setQueueLimit("extra", 0);
    assert.equal(fixture.gateway.pool("extra").describe().queue.limit, 0);
    await fixture.gateway.removeModel("extra");
    await assert.rejects(openai.completions.create({ model: "extra", prompt: "Once", max_tokens: 2 }), (e: unknown) => e instanceof OpenAI.NotFoundError);
  });

  it("keeps serving the old model when the new file is refused", async () => {
    const { home, cleanup } = tempHome();
    try {
      const broken = join(home, "broken.gguf");
      copyFileSync(TEST_MODEL, broken);
      const fd = openSync(broken, "r+");
      ftruncateSync(fd, 4096);
      closeSync(fd);
      await assert.rejects(fixture.gateway.swapModel("stories", broken), (e: unknown) => isEdgeError(e) && e.code === "invalid_gguf");
      assert.equal(fixture.gateway.pool("stories").state, "ready");
      const r = await openai.completions.create({ model: "stories", prompt: "Once", max_tokens: 2 });
      assert.equal(r.usage!.completion_tokens, 2);
    } finally {
      cleanup();
    }
  });
});

describe("models that fail verification", () => {
  let fixture: GatewayFixture;
  let cleanup: () => void;
  before(async () => {
    const temp = tempHome();
    cleanup = temp.cleanup;
    const broken = join(temp.home, "broken.gguf");
    copyFileSync(TEST_MODEL, broken);
    const fd = openSync(broken, "r+");
    ftruncateSync(fd, 100_000);
    closeSync(fd);
    fixture = await startGateway({ models: [demoModel(), { name: "broken", ref: broken, parallel: 1 }] });
  });
  after(async () => {
    await fixture?.close();
    cleanup?.();
  });

  it("are not started, are reported not ready, and answer 503 with the reason", async () => {
    const status = fixture.gateway.pool("broken").describe();
    assert.equal(status.state, "failed");
    assert.equal(status.runners.length, 0);
    assert.match(status.reason!, /not available: .*broken\.gguf/);
    const ready = await fetch(`${fixture.url}/ready`);
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as any;
    assert.equal(body.models.find((m: any) => m.name === "broken").state, "failed");
    const r = await fetch(`${fixture.url}/v1/completions`, { method: "POST", body: JSON.stringify({ model: "broken", prompt: "x" }) });
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as any).error.code, "model_not_ready");
    const ok = await fetch(`${fixture.url}/v1/completions`, { method: "POST", body: JSON.stringify({ model: "demo", prompt: "x", max_tokens: 2 }) });
    assert.equal(ok.status, 200);
  });

  it("are refused by the trust policy before any runner starts, when it requires signatures", async () => {
    const strict = await startGateway({ models: [demoModel(), { name: "unsigned", ref: TEST_MODEL, parallel: 1 }], config: { trust: { require_signature: true } } });
    try {
      const unsigned = strict.gateway.pool("unsigned").describe();
      assert.equal(unsigned.state, "failed");
      assert.equal(unsigned.runners.length, 0);
      assert.match(unsigned.reason!, /unsigned and trust\.require_signature is on/);
      // The demo model is vouched for by its pinned hash.
      const demo = strict.gateway.pool("demo").describe();
      assert.equal(demo.state, "ready");
      assert.equal(demo.trust?.status, "pinned");
      const r = await fetch(`${strict.url}/api/generate`, { method: "POST", body: JSON.stringify({ model: "unsigned", prompt: "x" }) });
      assert.equal(r.status, 503);
      assert.match(((await r.json()) as { error: string }).error, /require_signature/);
    } finally {
      await strict.close();
    }
  });

  it("is verified before any runner loads it: a hash mismatch starts no process", async () => {
    const { home, cleanup: done } = tempHome();
    try {
      const { config } = loadConfig({ env: { EDGELM_HOME: home } });
      const created: RunnerSpec[] = [];
      const real = new ChildProcessRunnerFactory();
      const counting: RunnerFactory = {
        backend: real.backend,
        create: (spec: RunnerSpec): Runner => {
          created.push(spec);
          return real.create(spec);
        },
      };
      const pool = new ModelPool(
        { name: "pinned", ref: TEST_MODEL, parallel: 1 },
        {
          config,
          factory: counting,
          events: new GatewayEvents(),
          queueLimit: 1,
          resolve: async (ref) => ({ name: "pinned", path: ref, source: "path", expectedSha256: "0".repeat(64) }),
        },
      );
      await pool.start();
      const status = pool.describe();
      assert.equal(status.state, "failed");
      assert.match(status.reason!, /does not match its recorded hash/);
      assert.equal(created.length, 0);
      await pool.close();
    } finally {
      done();
    }
  });
});
