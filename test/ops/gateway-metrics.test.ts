import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { runCli } from "../helpers.js";
import { get, sampleValue, startOpsGateway, sumSamples, type OpsFixture } from "./ops-gateway-fixture.js";
import { promtool } from "./promtool.js";
import { WebhookReceiver } from "./webhook-receiver.js";

const KEY = "metrics-test-key";

describe("metrics and the admin API on a real gateway", () => {
  let fixture: OpsFixture;
  let openai: OpenAI;
  let hook: WebhookReceiver;
  before(async () => {
    hook = await WebhookReceiver.start();
    fixture = await startOpsGateway({
      models: [{ name: "demo", ref: "demo", parallel: 2, threads: { decode: 1, prompt: 1 } }],
      config: { server: { api_keys: [KEY] }, metrics: { sample_interval_s: 0.2 }, policies: { alerts: { webhooks: [{ url: hook.url }] } } },
    });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    await fixture?.close();
    await hook?.close();
  });

  it("counts requests and moves the latency histograms after real requests", async () => {
    const chat = await openai.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "the cat" }], max_tokens: 12, temperature: 0 });
    let streamed = 0;
    let usageTokens = 0;
    const stream = await openai.completions.create({ model: "demo", prompt: "the cat", max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) {
      if (chunk.choices[0]?.text) streamed++;
      if (chunk.usage) usageTokens = chunk.usage.completion_tokens;
    }
    await assert.rejects(openai.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }), (e: unknown) => (e as { status: number }).status === 404);
    const generated = (chat.usage?.completion_tokens ?? 0) + usageTokens;
    assert.ok(generated > 2 && streamed > 0);

    // Resources are sampled every 0.2 s here: wait for a sample that saw the runner.
    for (let i = 0; i < 100 && !fixture.ops.sampler.latest?.runners.some((r) => r.rssBytes !== undefined); i++) await new Promise((r) => setTimeout(r, 50));
    const { status, text } = await get(`${fixture.url}/metrics`, KEY);
    assert.equal(status, 200);
    assert.equal(sampleValue(text, 'edgelm_requests_total{model="demo",route="openai.chat",status="200",dialect="openai"}'), 1);
    assert.equal(sampleValue(text, 'edgelm_requests_total{model="demo",route="openai.completions",status="200",dialect="openai"}'), 1);
    assert.equal(sumSamples(text, "edgelm_requests_total", { route: "openai.chat", status: "404" }), 1);
    assert.equal(sumSamples(text, "edgelm_request_errors_total", { code: "model_not_found" }), 1);
    assert.equal(sumSamples(text, "edgelm_time_to_first_token_seconds_count", { model: "demo" }), 2);
    assert.equal(sumSamples(text, "edgelm_time_to_first_token_seconds_bucket", { model: "demo", le: "+Inf" }), 2);
    assert.equal(sumSamples(text, "edgelm_time_to_first_token_seconds_bucket", { model: "demo", le: "0.005" }) <= 2, true);
    assert.equal(sumSamples(text, "edgelm_generated_tokens_total", { model: "demo" }), generated);
    assert.equal(sumSamples(text, "edgelm_prompt_tokens_total", { model: "demo" }) > 0, true);
    // One inter-token gap per token after each request's first.
    const gaps = sumSamples(text, "edgelm_inter_token_latency_seconds_count", { model: "demo" });
    assert.ok(gaps > 0 && gaps <= generated - 2, `gaps ${gaps} of ${generated} tokens`);
    assert.equal(sumSamples(text, "edgelm_queue_wait_seconds_count", { model: "demo" }), 2);
    assert.equal(sumSamples(text, "edgelm_request_duration_seconds_count", { model: "demo" }), 2);
    assert.ok((sampleValue(text, 'edgelm_decode_tokens_per_second{model="demo"}') ?? 0) > 0);
    assert.equal(sampleValue(text, 'edgelm_runners{model="demo"}'), 1);
    assert.equal(sampleValue(text, 'edgelm_requests_running{model="demo"}'), 0);
    assert.equal(sampleValue(text, 'edgelm_kv_cache_capacity_tokens{model="demo"}'), 2 * 2048);
    assert.equal(sumSamples(text, "edgelm_model_load_duration_seconds_count", { model: "demo" }), 1);
    assert.equal(sampleValue(text, 'edgelm_model_info{model="demo",ref="demo",quantization="F32",state="ready",backend="node-llama-cpp",digest="",version=""}'), 1);
    assert.ok((sumSamples(text, "edgelm_runner_resident_memory_bytes", { model: "demo" }) ?? 0) > 10 * 2 ** 20);
    assert.doesNotMatch(text, /route="(metrics|health|admin)/, "plumbing is not API traffic");

    // Another request moves the counters by exactly one.
    await openai.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "a bird" }], max_tokens: 4 });
    const later = (await get(`${fixture.url}/metrics`, KEY)).text;
    assert.equal(sampleValue(later, 'edgelm_requests_total{model="demo",route="openai.chat",status="200",dialect="openai"}'), 2);
    assert.equal(sumSamples(later, "edgelm_time_to_first_token_seconds_count", { model: "demo" }), 3);
  });

  it("serves /metrics only with the API key, and promtool accepts a real scrape", async () => {
    const denied = await get(`${fixture.url}/metrics`);
    assert.equal(denied.status, 401);
    assert.match(denied.text, /"code":"invalid_api_key"/);
    const { text } = await get(`${fixture.url}/metrics`, KEY);
    const check = promtool(["check", "metrics"], text);
    assert.equal(check.code, 0, check.output);
  });

  it("edgelm admin adds and removes a runner, fires and resolves an alert, and shows the policies", async () => {
    const cli = (args: string[]) => runCli(["admin", ...args, "--url", fixture.url, "--api-key", KEY], { timeoutMs: 120_000 });
    const added = await cli(["add-runner", "demo"]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /demo: started runner \S+ \(pid \d+\); 2 runners/);
    assert.equal(fixture.gateway.pool("demo").describe().runners.length, 2);
    const removed = await cli(["remove-runner", "demo"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /1 left/);

    const lowered = await cli(["swap", "demo", "--parallel", "1", "--mode", "drain-first"]);
    assert.equal(lowered.code, 0, lowered.stderr);
    assert.equal(lowered.stdout, "demo: demo (F32, parallel 2) → demo (F32, parallel 1)\n");
    assert.equal(fixture.gateway.pool("demo").describe().parallel, 1);

    const fired = await cli(["alert", "EdgelmMaintenance", "--summary", "disk swap at 14:00", "--severity", "info", "--label", "site=lab"]);
    assert.equal(fired.code, 0, fired.stderr);
    assert.match(fired.stdout, /EdgelmMaintenance: firing/);
    await hook.waitFor(1);
    const notice = hook.bodies[0] as { status: string; alert: { name: string; severity: string; labels: Record<string, string> } };
    assert.deepEqual([notice.status, notice.alert.name, notice.alert.severity, notice.alert.labels.site], ["firing", "EdgelmMaintenance", "info", "lab"]);
    const resolved = await cli(["alert", "EdgelmMaintenance", "--resolve", "--label", "site=lab"]);
    assert.equal(resolved.code, 0, resolved.stderr);
    await hook.waitFor(2);
    assert.equal((hook.bodies[1] as { status: string }).status, "resolved");

    const policies = await cli(["policies", "--json"]);
    assert.equal(policies.code, 0, policies.stderr);
    const status = JSON.parse(policies.stdout) as { enabled: boolean; rules: unknown[]; signals: Record<string, number> };
    assert.equal(status.enabled, true);
    assert.ok(status.signals.memory_used_percent! > 0 && status.signals.memory_used_percent! < 100);
  });

  it("admin mistakes get one clear line and a non-zero exit", async () => {
    const cli = (args: string[], key = KEY) => runCli(["admin", ...args, "--url", fixture.url, "--api-key", key]);
    const noVariant = await cli(["swap", "demo", "q4_0"]);
    assert.equal(noVariant.code, 3);
    assert.match(noVariant.stderr, /^edgelm: model demo has no stored Q4_0 variant \(it has no variants in the store\)\n$/);
    const unknown = await cli(["add-runner", "nope"]);
    assert.match(unknown.stderr, /^edgelm: model "nope" is not served here/);
    const last = await cli(["remove-runner", "demo"]);
    assert.match(last.stderr, /cannot remove the last runner of model demo/);
    const weights = await cli(["weights", "--peer", "0.5"]);
    assert.equal(weights.code, 2);
    assert.match(weights.stderr, /routes nothing to peers or the cloud/);
    const badKey = await cli(["policies"], "wrong");
    assert.equal(badKey.code, 2);
    assert.match(badKey.stderr, /^edgelm: the API key is not valid\n$/);
    const down = await runCli(["admin", "policies", "--url", "http://127.0.0.1:9"]);
    assert.equal(down.code, 7);
    assert.match(down.stderr, /cannot reach the gateway at http:\/\/127\.0\.0\.1:9/);
    const badBody = await fetch(`${fixture.url}/admin/swap`, { method: "POST", headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify({ model: "demo", mode: "fast" }) });
    assert.equal(badBody.status, 400);
    assert.match(await badBody.text(), /mode/);
  });
  it("counts a runner restart after a crash, and the reload's load time", async () => {
    const before = (await get(`${fixture.url}/metrics`, KEY)).text;
    const loads = sumSamples(before, "edgelm_model_load_duration_seconds_count", { model: "demo" });
    const pid = fixture.gateway.pool("demo").describe().runners[0]!.pid!;
    process.kill(pid, "SIGKILL");
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const status = fixture.gateway.pool("demo").describe();
      if (status.state === "ready" && status.runners[0]?.pid !== pid) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const text = (await get(`${fixture.url}/metrics`, KEY)).text;
    assert.equal(sampleValue(text, 'edgelm_runner_restarts_total{model="demo"}'), 1);
    assert.equal(sumSamples(text, "edgelm_model_load_duration_seconds_count", { model: "demo" }), loads + 1);
  });
});

describe("metrics.public", () => {
  let fixture: OpsFixture;
  before(async () => {
    fixture = await startOpsGateway({
      models: [{ name: "demo", ref: "demo", parallel: 1, threads: { decode: 1, prompt: 1 } }],
      config: { server: { api_keys: [KEY] }, metrics: { public: true } },
    });
  });
  after(async () => fixture?.close());

  it("serves /metrics without a key while the admin API still needs one", async () => {
    const metrics = await get(`${fixture.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^# TYPE edgelm_requests_total counter$/m);
    assert.equal((await get(`${fixture.url}/admin/policies`)).status, 401);
    assert.equal((await get(`${fixture.url}/admin/policies`, KEY)).status, 200);
  });
});
