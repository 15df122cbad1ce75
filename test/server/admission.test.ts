import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { endOf, demoModel, startGateway, waitFor, type GatewayFixture } from "./gateway-fixture.js";

/** Under a JSON grammar at temperature 0 the demo model never closes its object: it fills the context (2048 tokens, seconds). */
const ENDLESS = { prompt: "Once upon a time", temperature: 0, response_format: { type: "json_object" as const } };

describe("admission, cancellation and auth", () => {
  let fixture: GatewayFixture;
  let openai: OpenAI;
  before(async () => {
    fixture = await startGateway({ models: [demoModel({ parallel: 1 })], server: { queue: 1, api_keys: ["key-one", "key-two"] } });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "key-two", maxRetries: 0 });
  });
  after(async () => fixture?.close());

  const runnerPid = (): number => fixture.gateway.pool("demo").runnerProcesses()[0]!.pid!;

  it("needs a key on every API route, in each dialect's error shape; probes need none", async () => {
    const none = await fetch(`${fixture.url}/v1/models`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get("www-authenticate")!, /^Bearer/);
    const body = (await none.json()) as any;
    assert.equal(body.error.type, "authentication_error");
    assert.equal(body.error.code, "invalid_api_key");
    assert.match(body.error.message, /Authorization: Bearer/);
    const wrong = await fetch(`${fixture.url}/v1/models`, { headers: { authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    await assert.rejects(
      new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "key-three", maxRetries: 0 }).models.list(),
      (e: unknown) => e instanceof OpenAI.AuthenticationError,
    );
    assert.equal((await openai.models.list()).data.length, 1);
    const ollamaNone = await fetch(`${fixture.url}/api/tags`);
    assert.equal(ollamaNone.status, 401);
    assert.deepEqual(Object.keys((await ollamaNone.json()) as object), ["error"]);
    await assert.rejects(new Ollama({ host: fixture.url }).list(), (e: any) => e.status_code === 401);
    const ollama = new Ollama({ host: fixture.url, headers: { authorization: "Bearer key-one" } });
    assert.equal((await ollama.list()).models.length, 1);
    assert.equal((await fetch(`${fixture.url}/health`)).status, 200);
    const ready = await fetch(`${fixture.url}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "ready", models: [{ name: "demo", state: "ready" }] });
  });

  it("answers 429 with Retry-After at once when the slots and the queue are full", async () => {
    const pid = runnerPid();
    // A frozen runner holds its one slot: the first request runs (forever), the second waits, the third finds the line full.
    process.kill(pid, "SIGSTOP");
    try {
      const first = openai.completions.create({ model: "demo", prompt: "Once upon a time", max_tokens: 5, temperature: 0 });
      const second = openai.completions.create({ model: "demo", prompt: "Once upon a time", max_tokens: 5, temperature: 0 });
      await waitFor(() => fixture.gateway.pool("demo").describe().queue.waiting === 1, 5000, "one waiting request");
      const started = Date.now();
      await assert.rejects(openai.completions.create({ model: "demo", prompt: "x", max_tokens: 5 }), (e: unknown) => {
        assert.ok(e instanceof OpenAI.RateLimitError);
        assert.ok(Number(e.headers?.get("retry-after")) >= 1);
        assert.match(e.message, /all 1 slots are generating and 1 requests are waiting/);
        return true;
      });
      const ollama = await fetch(`${fixture.url}/api/generate`, {
        method: "POST",
        headers: { authorization: "Bearer key-one" },
        body: JSON.stringify({ model: "demo", prompt: "x" }),
      });
      assert.equal(ollama.status, 429);
      assert.ok(Number(ollama.headers.get("retry-after")) >= 1);
      assert.match(((await ollama.json()) as { error: string }).error, /is busy/);
      assert.ok(Date.now() - started < 2000, "a full queue answers at once");
      // A runner that does not answer makes the gateway not ready.
      const ready = await fetch(`${fixture.url}/ready`);
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as any).models[0].state, "unresponsive");
      process.kill(pid, "SIGCONT");
      const [a, b] = await Promise.all([first, second]);
      assert.equal(a.choices[0]!.finish_reason, "length");
      assert.equal(b.choices[0]!.finish_reason, "length");
    } finally {
      process.kill(pid, "SIGCONT");
    }
  });

  it("stops generating as soon as a streaming client goes away, and frees the slot", async () => {
    for (const dialect of ["openai", "ollama"] as const) {
      const route = dialect === "openai" ? "openai.completions" : "ollama.generate";
      const ended = endOf(fixture, route);
      let chunks = 0;
      if (dialect === "openai") {
        const stream = await openai.completions.create({ model: "demo", ...ENDLESS, stream: true });
        for await (const _ of stream) if (++chunks === 3) stream.controller.abort();
      } else {
        const ollama = new Ollama({ host: fixture.url, headers: { authorization: "Bearer key-one" } });
        const stream = await ollama.generate({ model: "demo", prompt: "Once upon a time", format: "json", stream: true, options: { temperature: 0 } });
        try {
          for await (const _ of stream) if (++chunks === 3) stream.abort();
        } catch (error) {
          assert.equal((error as Error).name, "AbortError");
        }
      }
      const end = await ended;
      assert.equal(end.status, 499, `${dialect}: ${JSON.stringify(end)}`);
      assert.equal(end.finishReason, "abort");
      // Without the cancellation it would run to the full context (2048 tokens). The demo model makes thousands of
      // tokens a second, so how many come before the stop depends on how busy the machine is, not on the gateway:
      // the bound says the generation stopped long before its end, not how fast.
      assert.ok(end.completionTokens < 1024, `${dialect}: ${end.completionTokens} of 2048 tokens were generated`);
      assert.equal(fixture.gateway.pool("demo").describe().queue.inFlight, 0);
    }
    // The one slot is free: the next request runs at once.
    const next = await openai.completions.create({ model: "demo", prompt: "Once", max_tokens: 3, temperature: 0 });
    assert.equal(next.usage!.completion_tokens, 3);
  });
});

describe("per-request timeout", () => {
  let fixture: GatewayFixture;
  let openai: OpenAI;
  before(async () => {
    fixture = await startGateway({ models: [demoModel({ parallel: 1 })], server: { queue: 4, request_timeout_ms: 300 } });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => fixture?.close());

  it("ends a stream that runs too long with an in-band timeout error", async () => {
    const stream = await openai.completions.create({ model: "demo", ...ENDLESS, stream: true });
    let text = "";
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
      })(),
      (e: unknown) => e instanceof OpenAI.APIError && /did not finish within 300 ms/.test(e.message),
    );
    assert.ok(text.length > 0);
  });

  it("answers 504 when the runner does not answer in time, queued or running", async () => {
    const pid = fixture.gateway.pool("demo").runnerProcesses()[0]!.pid!;
    process.kill(pid, "SIGSTOP");
    try {
      const started = Date.now();
      const results = await Promise.allSettled([
        openai.completions.create({ model: "demo", prompt: "Once", max_tokens: 5, temperature: 0 }),
        openai.completions.create({ model: "demo", prompt: "Once", max_tokens: 5, temperature: 0 }),
      ]);
      for (const r of results) {
        assert.equal(r.status, "rejected");
        const error = (r as PromiseRejectedResult).reason as InstanceType<typeof OpenAI.APIError>;
        assert.equal(error.status, 504);
        assert.equal((error.error as any).code, "timeout");
      }
      assert.ok(Date.now() - started < 3000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    const ok = await openai.completions.create({ model: "demo", prompt: "Once", max_tokens: 3, temperature: 0 });
    assert.equal(ok.usage!.completion_tokens, 3);
  });
});
