/**
 * llama.cpp server's native routes on the gateway, on both engines: field
 * names and answer shapes as the bundled llama.cpp's tools/server/README.md
 * gives them, behind the same API key, admission and request events.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { writeTemplatedStories } from "../engine/templated-model.js";
import { testLlamaServer } from "../helpers.js";
import { startGateway, storiesModel, type GatewayFixture } from "./gateway-fixture.js";

const KEY = "test-key";

for (const backend of ["node-llama-cpp", "llama-server"] as const) describe(`llama-server's native routes (${backend})`, () => {
  let fixture: GatewayFixture;
  let dir: string;
  const call = async (method: string, path: string, body?: unknown, key: string | null = KEY) => {
    const response = await fetch(`${fixture.url}${path}`, {
      method,
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, headers: response.headers, json, text };
  };
  const post = (path: string, body: unknown, key?: string | null) => call("POST", path, body, key);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-llama-routes-"));
    const chatml = await writeTemplatedStories(dir, undefined, {}, "chatml.gguf");
    // stories260K's tokens 300–302 stand in for a code model's fill-in-the-middle tokens.
    const fim = await writeTemplatedStories(dir, undefined, { "tokenizer.ggml.fim_pre_token_id": 300, "tokenizer.ggml.fim_suf_token_id": 301, "tokenizer.ggml.fim_mid_token_id": 302 }, "fim.gguf");
    fixture = await startGateway({
      models: [storiesModel({ parallel: 2 }), storiesModel({ name: "chatml", ref: chatml, parallel: 1 }), storiesModel({ name: "fim", ref: fim, parallel: 1 })],
      server: { api_keys: [KEY] },
      config: { engine: backend === "llama-server" ? { backend, llama_server: await testLlamaServer() } : { backend } },
    });
  });
  after(async () => {
    await fixture?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("completes with llama-server's fields and answer object; /completions is the same route", async () => {
    const ends: string[] = [];
    const listener = (e: { route: string }) => ends.push(e.route);
    fixture.gateway.events.on("request:end", listener);
    const r = await post("/completion", { prompt: "Once upon a time", n_predict: 6, temperature: 0, return_tokens: true });
    fixture.gateway.events.off("request:end", listener);
    assert.equal(r.status, 200, r.text);
    const a = r.json;
    assert.equal(typeof a.content, "string");
    assert.ok(a.content.length > 0);
    assert.equal(a.stop, true);
    assert.equal(a.stop_type, "limit");
    assert.equal(a.tokens_predicted, 6);
    assert.equal(a.tokens.length, 6);
    assert.ok(a.tokens_evaluated > 3);
    assert.equal(a.model, "stories");
    assert.equal(a.prompt, "Once upon a time");
    assert.equal(a.generation_settings.n_predict, 6);
    assert.equal(a.generation_settings.n_ctx, 512);
    for (const key of ["prompt_n", "prompt_ms", "predicted_n", "predicted_ms", "predicted_per_second"]) assert.equal(typeof a.timings[key], "number", key);
    assert.deepEqual(ends, ["llama.completion"]);
    const alias = await post("/completions", { prompt: "Once upon a time", n_predict: 6, temperature: 0 });
    assert.equal(alias.json.content, a.content);
    assert.deepEqual(alias.json.tokens, []);
    // A stop word ends it with stop_type "word".
    const word = await post("/completion", { prompt: "Once upon a time", n_predict: 40, temperature: 0, stop: [a.content.trim().split(" ")[1] ?? "a"] });
    assert.equal(word.json.stop_type, "word");
  });

  it("takes token ids and mixed prompts, the same as the text they stand for", async () => {
    const text = await post("/completion", { prompt: "Once upon a time", n_predict: 5, temperature: 0 });
    const ids = await post("/tokenize", { content: "Once upon a time", add_special: true });
    assert.equal(ids.status, 200, ids.text);
    assert.ok(ids.json.tokens.length > 2);
    const byIds = await post("/completion", { prompt: ids.json.tokens, n_predict: 5, temperature: 0 });
    assert.equal(byIds.status, 200, byIds.text);
    assert.equal(byIds.json.content, text.json.content);
    assert.equal(byIds.json.tokens_evaluated, text.json.tokens_evaluated);
    const mixed = await post("/completion", { prompt: ["Once upon", ...(await post("/tokenize", { content: " a time" })).json.tokens], n_predict: 5, temperature: 0 });
    assert.equal(mixed.status, 200, mixed.text);
    assert.equal(typeof mixed.json.content, "string");
    const outside = await post("/completion", { prompt: [1, 99999], n_predict: 2 });
    assert.equal(outside.status, 400);
    assert.deepEqual(Object.keys(outside.json), ["error"]);
    assert.equal(outside.json.error.code, 400);
    assert.equal(outside.json.error.type, "invalid_request_error");
    assert.match(outside.json.error.message, /prompt\[1\]: token id 99999 is outside the vocabulary/);
  });

  it("streams in llama-server's SSE shape: pieces with stop false, then the final object, no [DONE]", async () => {
    const whole = await post("/completion", { prompt: "Once upon a time", n_predict: 12, temperature: 0 });
    const r = await post("/completion", { prompt: "Once upon a time", n_predict: 12, temperature: 0, stream: true });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /text\/event-stream/);
    assert.doesNotMatch(r.text, /\[DONE\]/);
    const events = r.text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => JSON.parse(e.slice(6)));
    const last = events.at(-1);
    assert.equal(last.stop, true);
    assert.equal(last.tokens_predicted, 12);
    assert.ok(events.slice(0, -1).every((e) => e.stop === false && typeof e.content === "string" && Array.isArray(e.tokens)));
    assert.equal(events.map((e) => e.content).join(""), whole.json.content);
  });

  it("returns completion_probabilities with n_probs", async () => {
    const r = await post("/completion", { prompt: "Once upon a time", n_predict: 3, temperature: 0, n_probs: 2 });
    assert.equal(r.status, 200, r.text);
    const probs = r.json.completion_probabilities;
    assert.equal(probs.length, 3);
    for (const p of probs) {
      assert.equal(typeof p.id, "number");
      assert.equal(typeof p.logprob, "number");
      assert.ok(Array.isArray(p.bytes));
      assert.equal(p.top_logprobs.length, 2);
    }
    assert.deepEqual(r.json.generation_settings.n_probs, 2);
  });

  it("tokenizes and detokenizes, with pieces on request", async () => {
    const t = await post("/tokenize", { content: "a red ball" });
    const back = await post("/detokenize", { tokens: t.json.tokens });
    assert.equal(back.json.content.trim(), "a red ball");
    const pieces = await post("/tokenize", { content: "a red ball", with_pieces: true });
    assert.deepEqual(pieces.json.tokens.map((p: { id: number }) => p.id), t.json.tokens);
    assert.equal(pieces.json.tokens.map((p: { piece: string }) => p.piece).join("").trim(), "a red ball");
    const bos = await post("/tokenize", { content: "a red ball", add_special: true });
    assert.equal(bos.json.tokens.length, t.json.tokens.length + 1);
    const bad = await post("/detokenize", { tokens: [5, 70000] });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /tokens\[1\]: token id 70000 is outside the vocabulary/);
  });

  it("applies the model's chat template", async () => {
    const r = await post("/apply-template", { model: "chatml", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.prompt, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  });

  it("describes the server in /props and its slots in /slots", async () => {
    const props = await call("GET", "/props");
    assert.equal(props.status, 200, props.text);
    assert.equal(props.json.total_slots, 2);
    assert.equal(props.json.default_generation_settings.n_ctx, 512);
    assert.equal(props.json.model_alias, "stories");
    assert.match(props.json.build_info, /^edgelm-/);
    const chatml = await call("GET", "/props?model=chatml");
    assert.match(chatml.json.chat_template, /im_start/);
    const slots = await call("GET", "/slots");
    assert.equal(slots.json.length, 2);
    assert.deepEqual(slots.json.map((s: { id: number }) => s.id), [0, 1]);
    assert.ok(slots.json.every((s: { is_processing: boolean; n_ctx: number }) => s.is_processing === false && s.n_ctx === 512));
  });

  it("embeds in llama-server's shape on /embedding and /embeddings", async () => {
    const openai = await post("/v1/embeddings", { model: "stories", input: "a red ball" });
    const one = await post("/embedding", { content: "a red ball" });
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json.length, 1);
    assert.equal(one.json[0].index, 0);
    assert.equal(one.json[0].embedding.length, 1);
    assert.deepEqual(one.json[0].embedding[0].map((v: number) => v.toFixed(5)), openai.json.data[0].embedding.map((v: number) => v.toFixed(5)));
    const two = await post("/embeddings", { input: ["a red ball", "a blue cat"] });
    assert.deepEqual(two.json.map((e: { index: number }) => e.index), [0, 1]);
    const norm = await post("/embedding", { content: "x", embd_normalize: -1 });
    assert.equal(norm.status, 400);
    assert.match(norm.json.error.message, /^embd_normalize:/);
  });

  it("fills in the middle with the model's FIM tokens, and refuses a model without them", async () => {
    const prefix = await post("/tokenize", { content: "def add(a, b):" });
    const suffix = await post("/tokenize", { content: "return c" });
    const r = await post("/infill", { model: "fim", input_prefix: "def add(a, b):", input_suffix: "return c", n_predict: 3, temperature: 0 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.tokens_predicted, 3);
    assert.equal(r.json.tokens_evaluated, prefix.json.tokens.length + suffix.json.tokens.length + 3);
    const none = await post("/infill", { input_prefix: "a", input_suffix: "b" });
    assert.equal(none.status, 400);
    assert.match(none.json.error.message, /stories has no fill-in-the-middle tokens/);
  });

  it("serves /chat/completions without /v1 to the openai client, and /v1/health without a key", async () => {
    const client = new OpenAI({ baseURL: fixture.url, apiKey: KEY, maxRetries: 0 });
    const r = await client.chat.completions.create({ model: "stories", messages: [{ role: "user", content: "Hi" }], max_tokens: 3 });
    assert.equal(r.usage!.completion_tokens, 3);
    const health = await call("GET", "/v1/health", undefined, null);
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: "ok" });
  });

  it("needs the API key like every route and answers errors in llama-server's shape", async () => {
    const r = await post("/completion", { prompt: "x" }, null);
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 401);
    assert.equal(r.json.error.type, "authentication_error");
    const broken = await post("/completion", "{oops");
    assert.equal(broken.status, 400);
    assert.match(broken.json.error.message, /not valid JSON/);
    const missing = await post("/completion", { n_predict: 2 });
    assert.equal(missing.status, 400);
    assert.match(missing.json.error.message, /^prompt:/);
    const several = await post("/completion", { prompt: ["a", "b"] });
    assert.equal(several.status, 400);
    assert.match(several.json.error.message, /^prompt: one prompt per request/);
    const unknownModel = await post("/completion", { model: "nope", prompt: "x" });
    assert.equal(unknownModel.status, 404);
    assert.equal(unknownModel.json.error.type, "not_found_error");
  });
});
