/** llama-server's own counters re-exported under edgelm's names on a real gateway. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { parseEngineMetrics } from "../../src/ops/engine-metrics.js";
import { TEST_MODEL, testLlamaServer } from "../helpers.js";
import { get, sampleValue, startOpsGateway, sumSamples, type OpsFixture } from "./ops-gateway-fixture.js";
import { promtool } from "./promtool.js";

describe("engine metrics", () => {
  it("parses llama-server's samples and skips comments and junk", () => {
    const values = parseEngineMetrics(
      "# HELP llamacpp:prompt_tokens_total x\n# TYPE llamacpp:prompt_tokens_total counter\nllamacpp:prompt_tokens_total 12\nllamacpp:requests_processing{slot=\"0\"} 1\nllamacpp:bad NaNx\nother_metric 5\n",
    );
    assert.deepEqual([...values], [
      ["prompt_tokens_total", 12],
      ["requests_processing", 1],
    ]);
  });
});

describe("metrics of a gateway on llama-server", () => {
  let fixture: OpsFixture;
  let openai: OpenAI;
  before(async () => {
    fixture = await startOpsGateway({
      models: [{ name: "stories", ref: TEST_MODEL, parallel: 2, threads: { decode: 1, prompt: 1 } }],
      config: { engine: { backend: "llama-server", llama_server: await testLlamaServer() } },
    });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => fixture?.close());

  it("names the engine and re-exports its token and decode counters", async () => {
    // The runner's own start-up probe generates too: compare against a scrape before the requests.
    const before = (await get(`${fixture.url}/metrics`)).text;
    const answers = await Promise.all(
      ["Once upon a time", "The cat"].map((prompt) => openai.completions.create({ model: "stories", prompt, max_tokens: 12, temperature: 0 })),
    );
    const generated = answers.reduce((sum, a) => sum + (a.usage?.completion_tokens ?? 0), 0);
    assert.ok(generated > 0);
    const { status, text } = await get(`${fixture.url}/metrics`);
    assert.equal(status, 200);
    assert.equal(sampleValue(text, `edgelm_model_info{model="stories",ref="${TEST_MODEL}",quantization="F32",state="ready",backend="llama-server",digest="",version=""}`), 1);
    const engineTokens = (t: string) => sumSamples(t, "edgelm_engine_generated_tokens_total", { model: "stories" });
    assert.equal(engineTokens(text) - engineTokens(before), generated);
    assert.equal(sumSamples(text, "edgelm_generated_tokens_total", { model: "stories" }), generated);
    assert.ok(sumSamples(text, "edgelm_engine_prompt_tokens_total", { model: "stories" }) > 0);
    assert.ok(sumSamples(text, "edgelm_engine_decode_calls_total", { model: "stories" }) > 0);
    assert.equal(sumSamples(text, "edgelm_engine_requests_processing", { model: "stories" }), 0);
    const check = promtool(["check", "metrics"], text);
    assert.equal(check.code, 0, check.output);
  });
});
