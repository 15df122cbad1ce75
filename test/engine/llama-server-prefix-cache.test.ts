import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LlamaServerRunner } from "../../src/engine/llama-server/llama-server-runner.js";
import { trimFolder } from "../../src/engine/llama-server/slot-prefixes.js";
import type { ChatMessage, GenerateRequest, LoadedModel, PrefixCacheOptions } from "../../src/engine/types.js";
import { testLlamaServer, TEST_MODEL } from "../helpers.js";

const SYSTEM =
  "You are a storyteller for small children. Every story has a girl named Lily, a dog named Max and a red ball. " +
  "Stories are short, happy and end with everyone going to sleep. Use simple words. Never use scary things. " +
  "Lily lives in a small house near a park with a big tree, a pond with ducks and a sandbox.";
const QUESTIONS = ["Tell me about the park.", "What did Max find?", "Where is the red ball?", "Who lives in the house?"];
const options = { path: TEST_MODEL, parallel: 4, contextSize: 512, threads: { decode: 1, prompt: 1 } };
const MODEL_SHA256 = createHash("sha256").update(readFileSync(TEST_MODEL)).digest("hex");

function chat(question: string, history: ChatMessage[] = []): GenerateRequest {
  return { messages: [{ role: "system", content: SYSTEM }, ...history, { role: "user", content: question }], maxTokens: 24, temperature: 0 };
}

async function complete(model: LoadedModel, request: GenerateRequest) {
  const stream = await model.generate(request);
  for await (const _ of stream);
  return stream.result;
}

function prefixCache(home: string, sha256: string | undefined = MODEL_SHA256): PrefixCacheOptions {
  return { warmPrefixes: [SYSTEM], dir: join(home, "prefix-cache"), ...(sha256 ? { modelSha256: sha256 } : {}), maxDiskBytes: 64 * 1024 * 1024 };
}

function savedStates(home: string, sha256: string): string[] {
  const dir = join(home, "prefix-cache", sha256);
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".bin")) : [];
}

describe("llama-server warm prefixes", () => {
  let binary: string;
  let home: string;
  /** Greedy answers of a cold evaluation (no warm prefix, no prompt cache): the reference. */
  const cold = new Map<string, string>();

  before(async () => {
    binary = await testLlamaServer();
    home = mkdtempSync(join(tmpdir(), "edgelm-prefix-test-"));
    const runner = new LlamaServerRunner({ ...options, name: "cold" }, { binary });
    await runner.start();
    try {
      for (const q of QUESTIONS) cold.set(q, (await complete(runner, { ...chat(q), cachePrompt: false })).text);
    } finally {
      await runner.dispose();
    }
  });
  after(() => rmSync(home, { recursive: true, force: true }));

  it("evaluates a warm prefix once, copies it into every slot, and chats starting with it reuse it with the same greedy answers", async () => {
    const runner = new LlamaServerRunner({ ...options, name: "warm", prefixCache: prefixCache(home) }, { binary });
    await runner.start();
    try {
      const before = runner.prefixCacheFigures();
      assert.equal(before.warmPrefixes, 1);
      assert.equal(before.warmPrefixesRestored, 0, "nothing was saved yet: evaluated");
      assert.ok(before.warmPrefixBytes > 0);
      assert.equal(savedStates(home, MODEL_SHA256).length, 1, "its state is kept under the model's hash");
      // Four conversations at once: one per slot, each starting from the copied prefix.
      const results = await Promise.all(QUESTIONS.map((q) => complete(runner, chat(q))));
      const prefixTokens = (await runner.tokenize(await runner.renderChat([{ role: "system", content: SYSTEM }]), { addBos: true })).length;
      for (const [i, q] of QUESTIONS.entries()) {
        assert.equal(results[i]!.text, cold.get(q), `same greedy answer as a cold evaluation for "${q}"`);
        assert.ok(results[i]!.timings.cachedPromptTokens >= prefixTokens - 8, `"${q}" reused ${results[i]!.timings.cachedPromptTokens} of ~${prefixTokens} prefix tokens`);
      }
      const after = runner.prefixCacheFigures();
      assert.equal(after.hits, 4);
      assert.equal(after.misses, 0);
      assert.ok(after.promptTokensReused > after.promptTokensEvaluated, JSON.stringify(after));
      // A second turn of one conversation: its history is in some slot, and the answer is still the cold one.
      const history: ChatMessage[] = [
        { role: "user", content: QUESTIONS[0]! },
        { role: "assistant", content: results[0]!.text },
      ];
      const second = await complete(runner, chat("And then?", history));
      // It went to the slot holding its history (llama-server picks the idle slot sharing the most of the prompt).
      assert.ok(second.timings.cachedPromptTokens > prefixTokens + 4, `the second turn reused ${second.timings.cachedPromptTokens} tokens, the prefix alone is ~${prefixTokens}`);
      const reference = new LlamaServerRunner({ ...options, name: "cold2" }, { binary });
      await reference.start();
      try {
        assert.equal(second.text, (await complete(reference, { ...chat("And then?", history), cachePrompt: false })).text);
      } finally {
        await reference.dispose();
      }
    } finally {
      await runner.dispose();
    }
  });

  it("restores the saved state after a restart instead of evaluating it, with the same answers", async () => {
    assert.equal(savedStates(home, MODEL_SHA256).length, 1);
    const runner = new LlamaServerRunner({ ...options, name: "restarted", prefixCache: prefixCache(home) }, { binary });
    await runner.start();
    try {
      assert.equal(runner.prefixCacheFigures().warmPrefixesRestored, 1);
      const results = await Promise.all(QUESTIONS.map((q) => complete(runner, chat(q))));
      for (const [i, q] of QUESTIONS.entries()) {
        assert.equal(results[i]!.text, cold.get(q));
        assert.ok(results[i]!.timings.cachedPromptTokens > 0);
      }
    } finally {
      await runner.dispose();
    }
  });

  it("never uses a state saved for another model hash, and replaces a damaged one by evaluating", async () => {
    const otherSha = "0".repeat(64);
    const saved = join(home, "prefix-cache", MODEL_SHA256, savedStates(home, MODEL_SHA256)[0]!);
    const savedAt = statSync(saved).mtimeMs;
    // The model file "changed": its hash differs, so the state saved for the old hash is not looked at.
    const changed = new LlamaServerRunner({ ...options, name: "changed", prefixCache: prefixCache(home, otherSha) }, { binary });
    await changed.start();
    try {
      assert.equal(changed.prefixCacheFigures().warmPrefixesRestored, 0);
      assert.equal(changed.prefixCacheFigures().warmPrefixes, 1);
      assert.equal(statSync(saved).mtimeMs, savedAt, "the old hash's state was not used");
      assert.equal((await complete(changed, chat(QUESTIONS[1]!))).text, cold.get(QUESTIONS[1]!));
    } finally {
      await changed.dispose();
    }
    // A damaged file under the right hash: not restored (llama-server refuses it), evaluated again, and replaced.
    const otherSaved = join(home, "prefix-cache", otherSha, savedStates(home, otherSha)[0]!);
    writeFileSync(otherSaved, Buffer.alloc(4096, 7));
    const damaged = new LlamaServerRunner({ ...options, name: "damaged", prefixCache: prefixCache(home, otherSha) }, { binary });
    await damaged.start();
    try {
      assert.equal(damaged.prefixCacheFigures().warmPrefixesRestored, 0);
      assert.equal(damaged.prefixCacheFigures().warmPrefixes, 1);
      assert.equal((await complete(damaged, chat(QUESTIONS[2]!))).text, cold.get(QUESTIONS[2]!));
    } finally {
      await damaged.dispose();
    }
    assert.ok(statSync(otherSaved).size > 4096, "the damaged state was replaced by a good one");
  });

  it("without a model hash nothing persists; a prefix longer than the context is skipped and the runner still serves", async () => {
    const bare = mkdtempSync(join(tmpdir(), "edgelm-prefix-bare-"));
    try {
      const long = Array.from({ length: 200 }, (_, i) => `Rule ${i}: Lily and Max play with the red ball.`).join(" ");
      const spec = { ...options, name: "bare", prefixCache: { ...prefixCache(bare, undefined), warmPrefixes: [long] } };
      const runner = new LlamaServerRunner(spec, { binary });
      await runner.start();
      try {
        assert.equal(runner.prefixCacheFigures().warmPrefixes, 0, "a prefix past the slot's context is not placed");
        assert.equal((await complete(runner, chat(QUESTIONS[3]!))).text, cold.get(QUESTIONS[3]!));
      } finally {
        await runner.dispose();
      }
      assert.ok(!existsSync(join(bare, "prefix-cache")), "nothing persisted without the model's hash");
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});

describe("learned prefixes", () => {
  it("a system prompt seen learn_after times is kept, and placed in every slot from the next start on", async () => {
    const binary = await testLlamaServer();
    const home = mkdtempSync(join(tmpdir(), "edgelm-prefix-learn-"));
    const LEARNED = "You are a friendly narrator. Tell a tiny story about a cat named Tom who finds a shiny key under a big green leaf.";
    const ask = (q: string): GenerateRequest => ({ messages: [{ role: "system", content: LEARNED }, { role: "user", content: q }], maxTokens: 16, temperature: 0 });
    const learning = { ...prefixCache(home), warmPrefixes: [], learnAfter: 2, maxPrefixes: 4 };
    try {
      const cold = new LlamaServerRunner({ ...options, name: "cold-learn" }, { binary });
      await cold.start();
      const reference = (await complete(cold, { ...ask(QUESTIONS[0]!), cachePrompt: false })).text;
      await cold.dispose();

      const runner = new LlamaServerRunner({ ...options, name: "learner", prefixCache: learning }, { binary });
      await runner.start();
      try {
        assert.equal(runner.prefixCacheFigures().warmPrefixes, 0);
        await complete(runner, ask(QUESTIONS[1]!));
        assert.equal(savedStates(home, MODEL_SHA256).length, 0, "seen once: not kept yet");
        await complete(runner, ask(QUESTIONS[2]!));
        const deadline = Date.now() + 30_000;
        while (runner.prefixCacheFigures().warmPrefixes === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(runner.prefixCacheFigures().warmPrefixes, 1, "seen twice: learned");
        assert.equal(savedStates(home, MODEL_SHA256).length, 1);
        // Unrelated system prompts seen once each are not kept.
        await complete(runner, chat(QUESTIONS[3]!));
        assert.equal(runner.prefixCacheFigures().warmPrefixes, 1);
      } finally {
        await runner.dispose();
      }
      const restarted = new LlamaServerRunner({ ...options, name: "learned", prefixCache: learning }, { binary });
      await restarted.start();
      try {
        assert.equal(restarted.prefixCacheFigures().warmPrefixes, 1);
        assert.equal(restarted.prefixCacheFigures().warmPrefixesRestored, 1);
        const results = await Promise.all([0, 0, 0, 0].map(() => complete(restarted, ask(QUESTIONS[0]!))));
        for (const r of results) {
          assert.equal(r.text, reference, "same greedy answer as a cold evaluation");
          assert.ok(r.timings.cachedPromptTokens * 2 >= r.timings.promptTokens, `${r.timings.cachedPromptTokens} of ${r.timings.promptTokens} reused`);
        }
      } finally {
        await restarted.dispose();
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("saved prefix states on disk", () => {
  it("are trimmed to their budget, least recently used first, never the one just written", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-prefix-trim-"));
    try {
      mkdirSync(dir, { recursive: true });
      for (const [i, name] of ["prefix-a.bin", "prefix-b.bin", "prefix-c.bin"].entries()) {
        const path = join(dir, name);
        writeFileSync(path, Buffer.alloc(1000));
        const at = new Date(Date.now() - (3 - i) * 60_000);
        utimesSync(path, at, at);
      }
      writeFileSync(join(dir, "unrelated.txt"), "kept");
      trimFolder(dir, 2000, "prefix-a.bin");
      assert.deepEqual(readdirSync(dir).sort(), ["prefix-a.bin", "prefix-c.bin", "unrelated.txt"]);
      trimFolder(dir, 5000);
      assert.equal(readdirSync(dir).length, 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
