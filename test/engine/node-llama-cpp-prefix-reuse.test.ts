/**
 * The node-llama-cpp engine's prefix reuse (it has no warm prefixes: each
 * sequence keeps what it evaluated, and a request takes the free sequence
 * sharing the longest prefix with its prompt). With reuse, greedy answers are
 * the same as a cold evaluation (cache_prompt false), for chats sharing a
 * system prompt and for a conversation's next turn — up to a near-tie that
 * float reordering may flip (greedy-agreement.ts).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import type { ChatMessage, GenerateRequest, LoadedModel } from "../../src/engine/types.js";
import { TEST_MODEL } from "../helpers.js";
import { assertGreedyAgreement, greedyAnswer, type GreedyAnswer } from "./greedy-agreement.js";

const SYSTEM =
  "You are a storyteller for small children. Every story has a girl named Lily, a dog named Max and a red ball. " +
  "Stories are short, happy and end with everyone going to sleep. Use simple words.";
const QUESTIONS = ["Tell me about the park.", "What did Max find?", "Where is the red ball?"];

function chat(question: string, history: ChatMessage[] = []): GenerateRequest {
  return { messages: [{ role: "system", content: SYSTEM }, ...history, { role: "user", content: question }], maxTokens: 24, temperature: 0 };
}


describe("node-llama-cpp prefix reuse", () => {
  let model: LoadedModel;
  before(async () => {
    model = await new NodeLlamaCppBackend().load({ path: TEST_MODEL, parallel: 2, contextSize: 512, threads: { decode: 1, prompt: 1 } });
  });
  after(async () => model?.dispose());

  it("reuses a shared system prompt and a conversation's history, with the greedy answers of a cold evaluation", async () => {
    const cold = new Map<string, GreedyAnswer>();
    for (const q of QUESTIONS) cold.set(q, await greedyAnswer(model, { ...chat(q), cachePrompt: false }));
    const prefixTokens = (await model.tokenize(await model.renderChat([{ role: "system", content: SYSTEM }]), { addBos: true })).length;
    const first = await greedyAnswer(model, chat(QUESTIONS[0]!));
    assertGreedyAgreement(first, cold.get(QUESTIONS[0]!)!, `"${QUESTIONS[0]}"`);
    for (const q of QUESTIONS.slice(1)) {
      const result = await greedyAnswer(model, chat(q));
      assertGreedyAgreement(result, cold.get(q)!, `"${q}" after the shared prefix`);
      assert.ok(result.cachedPromptTokens >= prefixTokens - 8, `"${q}" reused ${result.cachedPromptTokens} of ~${prefixTokens} prefix tokens`);
    }
    const history: ChatMessage[] = [
      { role: "user", content: QUESTIONS[0]! },
      { role: "assistant", content: first.text },
    ];
    const coldTurn = await greedyAnswer(model, { ...chat("And then?", history), cachePrompt: false });
    // The cold turn left this conversation's history in a sequence: the next turn picks that one and reuses it.
    const turn = await greedyAnswer(model, chat("And then?", history));
    assertGreedyAgreement(turn, coldTurn, "the next turn");
    assert.ok(turn.cachedPromptTokens > prefixTokens + 4, `the turn reused ${turn.cachedPromptTokens} tokens; the prefix alone is ~${prefixTokens}`);
  });

  it("does not excuse an answer to another prompt as a near-tie", async () => {
    const story = await greedyAnswer(model, { prompt: "Once upon a time, there was a big truck", maxTokens: 24, cachePrompt: false });
    const chatAnswer = await greedyAnswer(model, { ...chat(QUESTIONS[0]!), cachePrompt: false });
    assert.notEqual(story.text, chatAnswer.text);
    assert.throws(() => assertGreedyAgreement(story, chatAnswer, "another prompt"), /answers part at token/);
  });
});
