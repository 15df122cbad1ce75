/**
 * Conversation affinity across the runners of one model: a conversation's next
 * turn goes to the runner that served its history (the longest shared prompt
 * prefix), not to whichever runner is first or least busy.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { affinityKey, MIN_SHARED_CHARS, RecentPrompts, sharedPrefixLength } from "../../src/scheduler/prompt-affinity.js";
import { startGateway, storiesModel, waitFor, type GatewayFixture } from "./gateway-fixture.js";

type Message = { role: "system" | "user" | "assistant"; content: string };
const SYSTEM: Message = { role: "system", content: "You tell short stories for children about animals in a small village by the sea, in simple words." };

describe("prompt affinity keys", () => {
  it("follow the messages in order and need a real shared prefix", () => {
    const a = affinityKey({ messages: [SYSTEM, { role: "user", content: "A story about a cat" }] })!;
    const b = affinityKey({ messages: [SYSTEM, { role: "user", content: "A story about a dog" }] })!;
    assert.ok(sharedPrefixLength(a, b) > SYSTEM.content.length);
    assert.equal(affinityKey({}), undefined);
    const recent = new RecentPrompts(2);
    recent.add(a);
    assert.equal(recent.longestShared(b), sharedPrefixLength(a, b));
    // A shared opening shorter than MIN_SHARED_CHARS is no history.
    assert.equal(recent.longestShared(affinityKey({ prompt: a.slice(0, MIN_SHARED_CHARS - 1) })!), 0);
    // Bounded: the oldest is forgotten.
    recent.add("x".repeat(100));
    recent.add("y".repeat(100));
    assert.equal(recent.longestShared(b), 0);
  });
});

describe("conversation affinity across runners", () => {
  let fixture: GatewayFixture;
  let openai: OpenAI;
  before(async () => {
    fixture = await startGateway({ models: [storiesModel({ parallel: 1, runners: 2 })] });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => fixture?.close());

  it("sends each conversation's next turn to the runner that holds its history", async () => {
    const admitted: string[] = [];
    const onAdmitted = (e: { runnerId: string }): void => void admitted.push(e.runnerId);
    fixture.gateway.events.on("request:admitted", onAdmitted);
    const chat = (messages: Message[]) => openai.chat.completions.create({ model: "stories", messages, max_tokens: 12, temperature: 0 });
    const a: Message[] = [SYSTEM, { role: "user", content: "Tell me about Tom the cat and his red ball." }];
    const b: Message[] = [SYSTEM, { role: "user", content: "Tell me about Lily the duck who could not swim." }];
    // First turns at once: one slot per runner, so they take one runner each (the runners paused until both hold one).
    const pids = fixture.gateway.pool("stories").describe().runners.map((r) => r.pid!);
    assert.equal(pids.length, 2);
    for (const pid of pids) process.kill(pid, "SIGSTOP");
    let first: Promise<[OpenAI.ChatCompletion, OpenAI.ChatCompletion]>;
    try {
      const turnA = chat(a);
      await waitFor(() => admitted.length === 1, 10_000, "the first turn of A admitted");
      const turnB = chat(b);
      await waitFor(() => admitted.length === 2, 10_000, "the first turn of B admitted");
      first = Promise.all([turnA, turnB]);
    } finally {
      for (const pid of pids) process.kill(pid, "SIGCONT");
    }
    const [answerA, answerB] = await first;
    const [runnerA, runnerB] = admitted as [string, string];
    assert.notEqual(runnerA, runnerB);
    // Second turns one at a time, both runners idle: each goes where its history is.
    a.push({ role: "assistant", content: answerA.choices[0]!.message.content ?? "" }, { role: "user", content: "What did Tom do next?" });
    b.push({ role: "assistant", content: answerB.choices[0]!.message.content ?? "" }, { role: "user", content: "Did Lily learn to swim?" });
    await chat(b);
    await chat(a);
    fixture.gateway.events.off("request:admitted", onAdmitted);
    assert.deepEqual(admitted.slice(2), [runnerB, runnerA]);
  });
});
