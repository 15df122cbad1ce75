import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MetricsRegistry } from "../../src/ops/metrics-registry.js";
import { RequestMetrics } from "../../src/ops/request-metrics.js";

function sample(text: string, line: string): number | undefined {
  const escaped = line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`^${escaped} (\\S+)$`, "m").exec(text);
  return match ? Number(match[1]) : undefined;
}

describe("request metrics from gateway events", () => {
  it("counts, buckets and windows a request's life", async () => {
    const registry = new MetricsRegistry({ processMetrics: false });
    const metrics = new RequestMetrics(registry, { windowSeconds: 60 });
    const route = "openai.chat";
    // Whole milliseconds, so the gaps below are exact (t0 + 30 - (t0 + 20) is 10.000000000002 for some fractional t0,
    // and a 5 ms gap then lands just past the 5 ms bucket).
    const t0 = Math.floor(performance.now());
    metrics.requestStarted({ requestId: "r1", route, model: "m" });
    metrics.requestAdmitted({ requestId: "r1", route, model: "m", queueWaitMs: 30 });
    metrics.firstToken({ requestId: "r1", route, model: "m", ttftMs: 150 });
    metrics.tokens({ requestId: "r1", model: "m", tokens: 1, at: t0 });
    metrics.tokens({ requestId: "r1", model: "m", tokens: 1, at: t0 + 20 });
    metrics.tokens({ requestId: "r1", model: "m", tokens: 2, at: t0 + 30 });
    metrics.requestEnded({ requestId: "r1", route, model: "m", status: 200, promptTokens: 7, completionTokens: 4, durationMs: 400 });
    metrics.requestEnded({ requestId: "r2", route, model: "m", status: 429, errorCode: "queue_full", promptTokens: 0, completionTokens: 0, durationMs: 1 });
    const text = await registry.render();
    assert.equal(sample(text, 'edgelm_requests_total{model="m",route="openai.chat",status="200",dialect="openai"}'), 1);
    assert.equal(sample(text, 'edgelm_requests_total{model="m",route="openai.chat",status="429",dialect="openai"}'), 1);
    assert.equal(sample(text, 'edgelm_request_errors_total{model="m",route="openai.chat",code="queue_full",dialect="openai"}'), 1);
    assert.equal(sample(text, 'edgelm_time_to_first_token_seconds_bucket{le="0.1",model="m",route="openai.chat"}'), 0);
    assert.equal(sample(text, 'edgelm_time_to_first_token_seconds_bucket{le="0.2",model="m",route="openai.chat"}'), 1);
    // Gaps: 20 ms once, then 10 ms over 2 tokens = 5 ms twice.
    assert.equal(sample(text, 'edgelm_inter_token_latency_seconds_count{model="m",route="openai.chat"}'), 3);
    assert.equal(sample(text, 'edgelm_inter_token_latency_seconds_bucket{le="0.005",model="m",route="openai.chat"}'), 2);
    assert.equal(sample(text, 'edgelm_queue_wait_seconds_bucket{le="0.05",model="m",route="openai.chat"}'), 1);
    assert.equal(sample(text, 'edgelm_prompt_tokens_total{model="m",route="openai.chat"}'), 7);
    assert.equal(sample(text, 'edgelm_generated_tokens_total{model="m",route="openai.chat"}'), 4);
    assert.equal(sample(text, 'edgelm_request_duration_seconds_count{model="m",route="openai.chat"}'), 2);
    assert.ok((sample(text, 'edgelm_decode_tokens_per_second{model="m"}') ?? 0) > 0);
    assert.equal(metrics.ttftP95Ms(), 150);
    assert.equal(metrics.tokensOver(60), 4);
  });
});
