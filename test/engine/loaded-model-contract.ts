/**
 * The engine contract as tests: every way of running a model (in-process
 * node-llama-cpp, a runner process, later llama.cpp's server) must pass the same
 * suite, so a feature cannot quietly exist on one backend only.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { GenerateRequest, GenerationResult, LoadedModel } from "../../src/engine/types.js";
import { isEdgeError } from "../../src/errors.js";

async function complete(model: LoadedModel, request: GenerateRequest, signal?: AbortSignal): Promise<GenerationResult & { streamed: string }> {
  const stream = await model.generate(request, signal);
  let streamed = "";
  for await (const chunk of stream) streamed += chunk.text;
  return { ...(await stream.result), streamed };
}

/**
 * Runs the contract against models from `load` (stories260K, 4 sequences, context 256).
 * `load` is called once; the model is disposed at the end (and must then refuse work).
 */
export function loadedModelContract(label: string, load: () => Promise<LoadedModel>): void {
  describe(`engine contract: ${label}`, () => {
    let model: LoadedModel;
    before(async () => {
      model = await load();
    });
    after(async () => model?.dispose());

    it("describes the loaded model", () => {
      assert.equal(model.info.architecture, "llama");
      assert.equal(model.info.contextSize, 256);
      assert.equal(model.info.parallel, 4);
      assert.equal(model.info.vocabSize, 512);
      assert.ok(model.info.backend.length > 0);
    });

    it("is deterministic at temperature 0 and with a seed; streams exactly the result text", async () => {
      const a = await complete(model, { prompt: "Once upon a time", maxTokens: 30, temperature: 0 });
      const b = await complete(model, { prompt: "Once upon a time", maxTokens: 30, temperature: 0 });
      assert.equal(a.text, b.text);
      assert.equal(a.streamed, a.text);
      assert.equal(a.finishReason, "length");
      assert.equal(a.timings.completionTokens, 30);
      const s1 = await complete(model, { prompt: "One day", maxTokens: 30, temperature: 1, seed: 7 });
      const s2 = await complete(model, { prompt: "One day", maxTokens: 30, temperature: 1, seed: 7 });
      assert.equal(s1.text, s2.text);
    });

    it("cuts at a stop string without emitting it", async () => {
      const full = await complete(model, { prompt: "Once upon a time", maxTokens: 40, temperature: 0 });
      const at = full.text.indexOf("girl");
      assert.ok(at > 0, full.text);
      const cut = await complete(model, { prompt: "Once upon a time", maxTokens: 40, temperature: 0, stop: ["girl"] });
      assert.equal(cut.text, full.text.slice(0, at));
      assert.equal(cut.streamed, cut.text);
      assert.equal(cut.finishReason, "stop");
    });

    it("stops at once when aborted mid-stream and frees the sequence", async () => {
      const request: GenerateRequest = { prompt: "Once upon a time", maxTokens: -1, temperature: 0.8, seed: 3 };
      // Seeded: the same request runs to the full context when nobody stops it.
      const full = await complete(model, request);
      assert.equal(full.finishReason, "length");
      const controller = new AbortController();
      const stream = await model.generate(request, controller.signal);
      // Abort on the first chunk and count what was generated after it: a fast model (stories260K makes thousands
      // of tokens a second) can pack many tokens into one chunk, so the tokens before the abort are not the measure.
      let before = -1;
      for await (const chunk of stream) {
        if (before === -1) {
          before = chunk.tokens.length;
          controller.abort();
        }
      }
      const result = await stream.result;
      assert.equal(result.finishReason, "abort");
      const left = full.timings.completionTokens - before;
      const after = result.timings.completionTokens - before;
      assert.ok(after < left / 2, `${after} of the ${left} tokens left were generated after the abort`);
      assert.equal(model.activeSequences, 0);
    });

    it("refuses bad input before any token with a precise error", async () => {
      const long = "Once upon a time there was a little girl. ".repeat(30);
      await assert.rejects(model.generate({ prompt: long, maxTokens: 5 }), (e: unknown) => {
        assert.ok(isEdgeError(e));
        assert.equal(e.code, "context_overflow");
        assert.match(e.message, /the prompt is \d+ tokens but the context holds 256/);
        return true;
      });
      await assert.rejects(model.generate({ prompt: "Once upon a time", contextSize: 3 }), (e: unknown) => {
        assert.ok(isEdgeError(e));
        assert.match(e.message, /context holds 3/);
        return true;
      });
      await assert.rejects(model.generate({ prompt: "Once", maxTokens: 0 }), (e: unknown) => isEdgeError(e) && e.code === "invalid_request");
      // End-of-text biases would be silently ignored by llama.cpp's sampler chain here: refused instead.
      await assert.rejects(model.generate({ prompt: "Once", logitBias: { 2: -100 } }), (e: unknown) => isEdgeError(e) && e.code === "unsupported");
    });

    it("decodes concurrent requests in parallel sequences with the same results as alone", async () => {
      const prompts = ["Once upon a time", "One day", "Lily was", "Tom had a"];
      const alone: string[] = [];
      for (const prompt of prompts) alone.push((await complete(model, { prompt, maxTokens: 20, temperature: 0 })).text);
      const together = await Promise.all(prompts.map((prompt) => complete(model, { prompt, maxTokens: 20, temperature: 0 })));
      assert.deepEqual(
        together.map((r) => r.text),
        alone,
      );
    });

    it("constrains output to a JSON schema", async () => {
      const schema = {
        type: "object",
        properties: { name: { type: "string", enum: ["Lily", "Tom"] }, happy: { type: "boolean" } },
        required: ["name", "happy"],
        additionalProperties: false,
      };
      const r = await complete(model, { prompt: "Once upon a time", maxTokens: 80, temperature: 0, responseFormat: { type: "json_schema", schema } });
      assert.equal(r.finishReason, "stop");
      const value = JSON.parse(r.text) as { name: string; happy: boolean };
      assert.ok(["Lily", "Tom"].includes(value.name));
      assert.equal(typeof value.happy, "boolean");
    });

    it("returns log-probabilities when asked", async () => {
      const stream = await model.generate({ prompt: "Once upon a time", maxTokens: 4, temperature: 0, logprobs: 3 });
      const entries = [];
      for await (const chunk of stream) entries.push(...(chunk.logprobs ?? []));
      assert.equal(entries.length, 4);
      for (const entry of entries) {
        assert.ok(entry.logprob <= 0);
        assert.equal(entry.top.length, 3);
        // Greedy: the chosen token is the most likely one.
        assert.equal(entry.top[0]!.id, entry.id);
      }
    });

    it("embeds, tokenizes and renders chat", async () => {
      const { vectors, promptTokens } = await model.embed(["Once upon a time", "a red ball"]);
      assert.equal(vectors.length, 2);
      assert.equal(vectors[0]!.length, 64);
      assert.ok(promptTokens > 4);
      assert.ok(Math.abs(Math.hypot(...vectors[0]!) - 1) < 1e-6);
      const long = "a red ball ".repeat(200);
      await assert.rejects(model.embed([long]), (e: unknown) => isEdgeError(e) && e.code === "context_overflow");
      const truncated = await model.embed([long], undefined, { truncate: true });
      assert.equal(truncated.vectors.length, 1);
      const tokens = await model.tokenize("Once upon a time");
      assert.ok(tokens.length > 0);
      assert.equal((await model.detokenize(tokens)).trim(), "Once upon a time");
      assert.match(await model.renderChat([{ role: "user", content: "Hi" }]), /Hi/);
    });
  });
}
