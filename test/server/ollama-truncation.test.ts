/**
 * A prompt longer than the context on Ollama's routes is cut as Ollama does:
 * a chat keeps its system message and the newest turns that fit, a generate
 * prompt keeps its end; `truncate: false` restores the error. (The OpenAI
 * routes keep their 400: openai-api.test.ts.)
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ollama } from "ollama";
import { writeTemplatedStories } from "../engine/templated-model.js";
import { startGateway, storiesModel, type GatewayFixture } from "./gateway-fixture.js";

describe("Ollama context overflow truncates", () => {
  let fixture: GatewayFixture;
  let ollama: Ollama;
  let dir: string;
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${fixture.url}${path}`, { method: "POST", body: JSON.stringify(body) });
    return { status: response.status, json: (await response.json()) as any };
  };
  /** Prompt tokens of `messages` through the model's template, as llama-server's routes tell them. */
  const chatTokens = async (messages: Array<{ role: string; content: string }>) => {
    const prompt = (await post("/apply-template", { model: "chatml", messages })).json.prompt as string;
    return ((await post("/tokenize", { model: "chatml", content: prompt, add_special: true })).json.tokens as number[]).length;
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-truncate-"));
    const chatml = await writeTemplatedStories(dir);
    fixture = await startGateway({ models: [storiesModel({ parallel: 1 }), storiesModel({ name: "chatml", ref: chatml, parallel: 1 })] });
    ollama = new Ollama({ host: fixture.url });
  });
  after(async () => {
    await fixture?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the system message and the newest turns that fit", async () => {
    const system = { role: "system", content: "You tell short stories." };
    const turns = Array.from({ length: 6 }, (_, i) => ({
      role: i % 2 === 0 ? "user" : "assistant",
      content: `Turn ${i}: ` + "the little dog ran to the park and played with a red ball. ".repeat(10),
    }));
    const messages = [system, ...turns, { role: "user", content: "Tell me more." }];
    assert.ok((await chatTokens(messages)) > 512);
    const r = await ollama.chat({ model: "chatml", messages, stream: false, options: { num_predict: 4, temperature: 0 } });
    assert.equal(r.done, true);
    // The prompt is the system message plus the newest turns within the budget (512 minus the 4 asked for).
    const rest = [...turns, messages.at(-1)!];
    let expected = 0;
    for (let keep = rest.length - 1; keep >= 1; keep--) {
      let kept = rest.slice(rest.length - keep);
      const firstUser = kept.findIndex((m) => m.role === "user");
      if (firstUser > 0) kept = kept.slice(firstUser);
      const count = await chatTokens([system, ...kept]);
      if (count <= 508) {
        expected = count;
        break;
      }
    }
    assert.ok(expected > 0);
    assert.equal(r.prompt_eval_count, expected);
    // Streamed the same way.
    let last: any;
    for await (const part of await ollama.chat({ model: "chatml", messages, stream: true, options: { num_predict: 4, temperature: 0 } })) last = part;
    assert.equal(last.prompt_eval_count, expected);
    const refused = await post("/api/chat", { model: "chatml", messages, truncate: false, stream: false });
    assert.equal(refused.status, 400);
    assert.match(refused.json.error, /the prompt is \d+ tokens but the context holds 512/);
  });

  it("keeps the end of a generate prompt", async () => {
    const prompt = "Once upon a time there was a girl. ".repeat(80) + "The end came with a bang";
    const r = await ollama.generate({ model: "stories", prompt, stream: false, options: { num_predict: 8, temperature: 0 } });
    assert.equal(r.done, true);
    assert.equal(r.prompt_eval_count, 504);
    // The kept prompt is the prompt's end: generating from those tokens gives the same text.
    const ids = (await post("/tokenize", { model: "stories", content: prompt, add_special: true })).json.tokens as number[];
    const tail = await post("/completion", { model: "stories", prompt: [ids[0], ...ids.slice(ids.length - 503)], n_predict: 8, temperature: 0 });
    assert.equal(tail.json.content, r.response);
    // No num_predict leaves a quarter of the context for the answer.
    const unlimited = await ollama.generate({ model: "stories", prompt, stream: false, options: { temperature: 0 } });
    assert.equal(unlimited.prompt_eval_count, 384);
    const refused = await post("/api/generate", { model: "stories", prompt, truncate: false, stream: false });
    assert.equal(refused.status, 400);
    assert.match(refused.json.error, /context holds 512/);
  });
});
