import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEMO_STORIES } from "../../src/demo/corpus.js";
import { demoNextTokenProbabilities, demoVocabulary } from "../../src/demo/demo-model.js";
import { DEMO_MODEL_PATH } from "../../src/demo/demo-model-file.js";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import type { LoadedModel } from "../../src/engine/types.js";
import { isEdgeError } from "../../src/errors.js";
import { quantizeModel } from "../../src/gguf/quant/quantize-model.js";
import { evaluateText } from "../../src/quality/evaluate-text.js";
import { REPO_ROOT, runCli, tempHome, TEST_MODEL } from "../helpers.js";

const EVAL_TEXT = join(REPO_ROOT, "assets/eval-stories.txt");
const load = (path: string): Promise<LoadedModel> => new NodeLlamaCppBackend().load({ path, contextSize: 512, threads: { decode: 1, prompt: 1 } });

describe("next-token distributions and perplexity on the demo model (exactly known)", () => {
  const vocab = demoVocabulary();
  const truth = demoNextTokenProbabilities(vocab);
  let model: LoadedModel;
  before(async () => (model = await load(DEMO_MODEL_PATH)));
  after(async () => model?.dispose());

  it("returns the full bigram distribution after every position", async () => {
    const tokens = await model.tokenize("Once upon a", { addBos: true });
    const positions: Float32Array[] = [];
    for await (const logprobs of model.nextTokenLogprobs!(tokens)) positions.push(logprobs);
    assert.equal(positions.length, tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      const expected = truth[vocab.stateOfToken[tokens[i]!]!]!;
      const logprobs = positions[i]!;
      assert.equal(logprobs.length, vocab.tokens.length);
      for (let id = 0; id < logprobs.length; id++) {
        const p = Math.exp(logprobs[id]!);
        assert.ok(Math.abs(p - (expected.get(id) ?? 0)) < 1e-4, `position ${i}, token ${vocab.tokens[id]}: ${p} vs ${expected.get(id) ?? 0}`);
      }
    }
  });

  it("computes the perplexity the bigram table implies, window by window", async () => {
    // Punctuation attached, as the model writes it, so every word is one token.
    const text = DEMO_STORIES[0]!.replace(/ ([.,!?])/g, "$1");
    const tokens = await model.tokenize(text, { addBos: false });
    for (const windowSize of [512, 9]) {
      // With BOS, each window's first word is predicted from the start state.
      let nll = 0;
      for (let i = 0; i < tokens.length; i++) {
        const state = i % (windowSize - 1) === 0 ? vocab.startState : vocab.stateOfToken[tokens[i - 1]!]!;
        // A word that never follows the state has log-probability -30 in the demo model.
        nll -= truth[state]!.get(tokens[i]!) !== undefined ? Math.log(truth[state]!.get(tokens[i]!)!) : -30;
      }
      const result = await evaluateText(model, text, { windowSize });
      assert.equal(result.tokens, tokens.length);
      assert.equal(result.windows, Math.ceil(tokens.length / (windowSize - 1)));
      assert.ok(Math.abs(result.meanNll - nll / tokens.length) < 1e-4, `window ${windowSize}: ${result.meanNll} vs ${nll / tokens.length}`);
      assert.ok(Math.abs(result.perplexity / Math.exp(nll / tokens.length) - 1) < 1e-3);
    }
  });

  it("stops at maxTokens and rejects texts and windows it cannot score", async () => {
    const capped = await evaluateText(model, "Once upon a time, there was a girl.", { maxTokens: 3 });
    assert.equal(capped.tokens, 3);
    await assert.rejects(evaluateText(model, "", {}), (e: unknown) => isEdgeError(e) && /too short to evaluate/.test(e.message));
    await assert.rejects(evaluateText(model, "Once upon a time", { windowSize: 4096 }), (e: unknown) => isEdgeError(e) && /window must be between 3 and 512/.test(e.message));
    await assert.rejects(evaluateText(model, "Once", { reference: model }), (e: unknown) => isEdgeError(e) && e.code === "usage");
  });
});

describe("quantization quality on stories260K", () => {
  let dir: string;
  let cleanup: () => void;
  let f32: LoadedModel;
  const text = readFileSync(EVAL_TEXT, "utf8");
  before(async () => {
    ({ home: dir, cleanup } = tempHome());
    f32 = await load(TEST_MODEL);
  });
  after(async () => {
    await f32?.dispose();
    cleanup();
  });

  async function compare(type: "q8_0" | "q4_0") {
    const path = join(dir, `${type}.gguf`);
    await quantizeModel(TEST_MODEL, path, { target: type, workers: 1 });
    const model = await load(path);
    try {
      return await evaluateText(model, text, { reference: f32 });
    } finally {
      await model.dispose();
    }
  }

  it("a model against itself: no divergence, full agreement", async () => {
    const twin = await load(TEST_MODEL);
    try {
      const r = await evaluateText(twin, text, { reference: f32, maxTokens: 200 });
      assert.ok(r.reference!.meanKl < 1e-9, `KL ${r.reference!.meanKl}`);
      assert.equal(r.reference!.top1Agreement, 1);
      assert.equal(r.perplexity, r.reference!.perplexity);
    } finally {
      await twin.dispose();
    }
  });

  it("Q8_0: perplexity within 1% of F32, top-1 agreement of at least 98%", async () => {
    const r = (await compare("q8_0")).reference!;
    // Measured: ratio 0.998, KL 0.0007 nats, top-1 98.6%.
    assert.ok(Math.abs(r.perplexityRatio - 1) < 0.01, `perplexity ratio ${r.perplexityRatio}`);
    assert.ok(r.top1Agreement >= 0.98, `top-1 agreement ${r.top1Agreement}`);
    assert.ok(r.meanKl < 0.002, `mean KL ${r.meanKl}`);
  });

  it("Q4_0: perplexity within 15% of F32, top-1 agreement of at least 80%", async () => {
    const r = (await compare("q4_0")).reference!;
    // Measured: ratio 1.097, KL 0.074 nats, top-1 86.8% (a 260K-parameter model has little redundancy).
    assert.ok(r.perplexityRatio > 1 && r.perplexityRatio < 1.15, `perplexity ratio ${r.perplexityRatio}`);
    assert.ok(r.top1Agreement >= 0.8, `top-1 agreement ${r.top1Agreement}`);
    assert.ok(r.meanKl > 0.01 && r.meanKl < 0.15, `mean KL ${r.meanKl}`);
  });
});

describe("edgelm eval (CLI)", () => {
  let home: string;
  let cleanup: () => void;
  before(() => ({ home, cleanup } = tempHome()));
  after(() => cleanup());

  it("prints perplexity, and KL / top-1 against a reference, as JSON", async () => {
    const r = await runCli(["eval", TEST_MODEL, "--text", EVAL_TEXT, "--reference", TEST_MODEL, "--max-tokens", "100", "--json"], { env: { EDGELM_HOME: home } });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, number | string>;
    assert.equal(out.tokens, 100);
    assert.ok((out.perplexity as number) > 1 && (out.perplexity as number) < 20);
    assert.equal(out.top1_agreement, 1);
    assert.ok((out.mean_kl as number) < 1e-6);
  });

  it("rejects a missing or empty text file, and models with different vocabularies", async () => {
    const env = { EDGELM_HOME: home };
    const missing = await runCli(["eval", TEST_MODEL, "--text", join(home, "none.txt")], { env });
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /^edgelm: cannot read --text .*none\.txt: no such file or directory/);
    const empty = join(home, "empty.txt");
    await import("node:fs").then((fs) => fs.writeFileSync(empty, "  \n"));
    const blank = await runCli(["eval", TEST_MODEL, "--text", empty], { env });
    assert.equal(blank.code, 2);
    assert.match(blank.stderr, /is empty/);
    const mismatch = await runCli(["eval", TEST_MODEL, "--text", EVAL_TEXT, "--reference", DEMO_MODEL_PATH], { env });
    assert.equal(mismatch.code, 2);
    assert.match(mismatch.stderr, /do not share a vocabulary \(512 and \d+ tokens\)/);
  });
});
