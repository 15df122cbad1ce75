import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { buildDemoModelDocument, demoNextTokenProbabilities, demoVocabulary } from "../../src/demo/demo-model.js";
import { DEMO_MODEL_PATH, DEMO_MODEL_SHA256 } from "../../src/demo/demo-model-file.js";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import type { LoadedModel } from "../../src/engine/types.js";
import { encodeGguf } from "../../src/gguf/gguf-writer.js";

const vocab = demoVocabulary();
const truth = demoNextTokenProbabilities(vocab);
const stateOfWord = (word: string): number => vocab.stateOfToken[vocab.wordToken.get(word)!]!;

describe("built-in demo model", () => {
  let model: LoadedModel;
  before(async () => {
    model = await new NodeLlamaCppBackend().load({ path: DEMO_MODEL_PATH, threads: { decode: 1 } });
  });
  after(async () => model?.dispose());

  it("is rebuilt byte for byte from the corpus and matches the pinned hash", async () => {
    const committed = readFileSync(DEMO_MODEL_PATH);
    assert.equal(createHash("sha256").update(committed).digest("hex"), DEMO_MODEL_SHA256);
    const rebuilt = await encodeGguf(buildDemoModelDocument());
    assert.equal(Buffer.compare(Buffer.from(rebuilt), committed), 0);
  });

  it("tokenizes whole words with llama.cpp's SPM tokenizer", async () => {
    const tokens = await model.tokenize("Once upon a time", { addBos: true });
    assert.deepEqual(
      tokens.map((t) => vocab.tokens[t]),
      ["<s>", "\u2581Once", "\u2581upon", "\u2581a", "\u2581time"],
    );
  });

  it("reports log-probabilities equal to the bigram table", async () => {
    const stream = await model.generate({ prompt: "Once upon a", maxTokens: 1, temperature: 1, topK: 0, topP: 1, minP: 0, logprobs: 20 });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const entry = chunks.flatMap((c) => c.logprobs ?? [])[0]!;
    const expected = truth[stateOfWord("a")]!;
    // Words that never follow "a" carry log-probability -30 (about 1e-13): listed last, if at all.
    const possible = entry.top.filter((alternative) => expected.has(alternative.id));
    assert.equal(possible.length, Math.min(20, expected.size));
    for (const alternative of entry.top) {
      const p = expected.get(alternative.id);
      if (p === undefined) {
        assert.ok(alternative.logprob < -25, `${alternative.token} cannot follow "a" but has logprob ${alternative.logprob}`);
        continue;
      }
      assert.ok(Math.abs(alternative.logprob - Math.log(p)) < 1e-3, `${alternative.token}: ${alternative.logprob} vs ${Math.log(p)}`);
    }
  });

  it("samples next words with the true frequencies (temperature 1, no truncation)", async () => {
    const expected = truth[stateOfWord("a")]!;
    const counts = new Map<number, number>();
    const runs = 600;
    for (let seed = 0; seed < runs; seed++) {
      const stream = await model.generate({ prompt: "Once upon a", maxTokens: 1, temperature: 1, topK: 0, topP: 1, minP: 0, seed });
      for await (const chunk of stream) for (const t of chunk.tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    let chi2 = 0;
    for (const [token, p] of expected) {
      const e = p * runs;
      chi2 += ((counts.get(token) ?? 0) - e) ** 2 / e;
    }
    for (const token of counts.keys()) assert.ok(expected.has(token), `sampled impossible token ${vocab.tokens[token]}`);
    // Critical value of chi-square at p = 0.001 for up to 20 degrees of freedom is 45.3.
    assert.ok(chi2 < 45.3, `chi-square ${chi2.toFixed(1)} over ${expected.size - 1} degrees of freedom`);
  });

  it("top-k 1 and temperature 0 both pick the most likely next word", async () => {
    const expected = [...truth[stateOfWord("upon")]!.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    for (const options of [{ temperature: 0 }, { temperature: 1, topK: 1, seed: 5 }]) {
      const stream = await model.generate({ prompt: "Once upon", maxTokens: 1, ...options });
      const tokens = [];
      for await (const chunk of stream) tokens.push(...chunk.tokens);
      assert.deepEqual(tokens, [expected]);
    }
  });

  it("min-p drops words below the threshold", async () => {
    const dist = truth[stateOfWord("the")]!;
    const top = Math.max(...dist.values());
    const allowed = new Set([...dist.entries()].filter(([, p]) => p >= 0.5 * top).map(([t]) => t));
    for (let seed = 0; seed < 60; seed++) {
      const stream = await model.generate({ prompt: "Lily showed the", maxTokens: 1, temperature: 1, topK: 0, topP: 1, minP: 0.5, seed });
      for await (const chunk of stream) for (const t of chunk.tokens) assert.ok(allowed.has(t), `${vocab.tokens[t]} is below min-p`);
    }
  });
});
