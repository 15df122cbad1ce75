import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import type { GenerateRequest, GenerationResult, LoadedModel } from "../../src/engine/types.js";
import { isEdgeError } from "../../src/errors.js";
import { TEST_MODEL } from "../helpers.js";

async function complete(model: LoadedModel, request: GenerateRequest, signal?: AbortSignal): Promise<GenerationResult & { streamed: string }> {
  const stream = await model.generate(request, signal);
  let streamed = "";
  for await (const chunk of stream) streamed += chunk.text;
  return { ...(await stream.result), streamed };
}

describe("node-llama-cpp engine on stories260K", () => {
  let model: LoadedModel;
  before(async () => {
    model = await new NodeLlamaCppBackend().load({ path: TEST_MODEL, threads: { decode: 1 }, parallel: 4, contextSize: 256 });
  });
  after(async () => model?.dispose());

  it("is deterministic at temperature 0 and with a fixed seed", async () => {
    const a = await complete(model, { prompt: "Once upon a time", maxTokens: 40, temperature: 0 });
    const b = await complete(model, { prompt: "Once upon a time", maxTokens: 40, temperature: 0 });
    assert.equal(a.text, b.text);
    assert.match(a.text, /Lily|there was/);
    const s1 = await complete(model, { prompt: "One day", maxTokens: 40, temperature: 0.9, seed: 42 });
    const s2 = await complete(model, { prompt: "One day", maxTokens: 40, temperature: 0.9, seed: 42 });
    assert.equal(s1.text, s2.text);
  });

  it("streams exactly the final text and stops at max tokens with finish reason length", async () => {
    const r = await complete(model, { prompt: "Once upon a time", maxTokens: 12, temperature: 0 });
    assert.equal(r.streamed, r.text);
    assert.equal(r.finishReason, "length");
    assert.equal(r.timings.completionTokens, 12);
  });

  it("cuts at a stop string and never emits it", async () => {
    const full = await complete(model, { prompt: "Once upon a time", maxTokens: 40, temperature: 0 });
    const at = full.text.indexOf("girl");
    assert.ok(at > 0, full.text);
    const r = await complete(model, { prompt: "Once upon a time", maxTokens: 40, temperature: 0, stop: ["girl", "zzz"] });
    assert.equal(r.finishReason, "stop");
    assert.equal(r.stoppedBy, "girl");
    assert.equal(r.text, full.text.slice(0, at));
    assert.equal(r.streamed, r.text);
  });

  it("reports timings for every request", async () => {
    const r = await complete(model, { prompt: "Once upon a time", maxTokens: 20, temperature: 0 });
    const t = r.timings;
    assert.ok(t.promptTokens >= 4);
    assert.equal(t.completionTokens, 20);
    assert.ok(t.timeToFirstTokenMs > 0);
    assert.ok(t.decodeMs > 0);
    assert.ok(t.perTokenMs > 0);
    assert.ok(t.decodeTokensPerSecond > 0);
    assert.ok(t.totalMs >= t.timeToFirstTokenMs);
  });

  it("stops at once when aborted, also mid-stream", async () => {
    const controller = new AbortController();
    const stream = await model.generate({ prompt: "Once upon a time", maxTokens: -1, temperature: 0.8, seed: 1 }, controller.signal);
    let chunks = 0;
    for await (const _ of stream) {
      if (++chunks === 5) controller.abort();
    }
    const result = await stream.result;
    assert.equal(result.finishReason, "abort");
    assert.ok(result.timings.completionTokens <= 7, `generated ${result.timings.completionTokens} after abort`);
    // Breaking out of the iteration cancels too, and the slot is released.
    const other = await model.generate({ prompt: "Once", maxTokens: -1, temperature: 0.8, seed: 2 });
    for await (const _ of other) break;
    assert.equal((await other.result).finishReason, "abort");
    assert.equal(model.activeSequences, 0);
  });

  it("refuses a prompt longer than the context with both numbers", async () => {
    const long = "Once upon a time there was a little girl. ".repeat(40);
    await assert.rejects(model.generate({ prompt: long, maxTokens: 5 }), (e: unknown) => {
      assert.ok(isEdgeError(e));
      assert.equal(e.code, "context_overflow");
      assert.match(e.message, /the prompt is \d+ tokens but the context holds 256/);
      return true;
    });
  });

  it("rejects invalid max tokens; -1 means until the context is full", async () => {
    for (const maxTokens of [0, -5, 1.5]) {
      await assert.rejects(model.generate({ prompt: "Once", maxTokens }), (e: unknown) => isEdgeError(e) && e.code === "invalid_request");
    }
    const r = await complete(model, { prompt: "Once upon a time", maxTokens: -1, temperature: 0 });
    assert.ok(r.finishReason === "stop" || r.timings.promptTokens + r.timings.completionTokens === 256, JSON.stringify(r.timings));
  });

  it("decodes concurrent requests in parallel sequences with the same results as alone", async () => {
    const prompts = ["Once upon a time", "One day", "Lily was", "Tom had a"];
    const alone = [];
    for (const prompt of prompts) alone.push((await complete(model, { prompt, maxTokens: 24, temperature: 0 })).text);
    const together = await Promise.all(prompts.map((prompt) => complete(model, { prompt, maxTokens: 24, temperature: 0 })));
    assert.deepEqual(together.map((r) => r.text), alone);
  });

  it("applies the fallback chat template to messages", async () => {
    const rendered = await model.renderChat([
      { role: "system", content: "Be brief." },
      { role: "user", content: "Tell a story." },
    ]);
    assert.equal(rendered, "### System:\nBe brief.\n\n### User:\nTell a story.\n\n### Assistant:\n");
    const r = await complete(model, { messages: [{ role: "user", content: "Tell a story." }], maxTokens: 16, temperature: 0 });
    assert.ok(r.timings.completionTokens > 0);
  });

  it("embeds text as normalised vectors of the model's width", async () => {
    const { vectors, promptTokens } = await model.embed(["Once upon a time", "a red ball"]);
    assert.equal(vectors.length, 2);
    assert.equal(vectors[0]!.length, 64);
    assert.ok(promptTokens > 4);
    const norm = Math.hypot(...vectors[0]!);
    assert.ok(Math.abs(norm - 1) < 1e-6);
    assert.notDeepEqual(vectors[0], vectors[1]);
  });
});
