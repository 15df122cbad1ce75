/**
 * Lenient by default, strict on request: fields the gateway does not know are
 * ignored and listed in x-edgelm-ignored-fields (OpenAI, Ollama, Responses);
 * the fields the openai SDK's types define are accepted; llama-server's extras
 * are honoured or refused by name; server.strict_fields makes unknown fields a
 * 400 again. A body sent to a path that does not exist is a 404, whatever it holds.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { writeTemplatedStories } from "../engine/templated-model.js";
import { demoModel, startGateway, storiesModel, type GatewayFixture } from "./gateway-fixture.js";

async function post(url: string, body: unknown) {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, json, text };
}

const ignoredOf = (headers: Headers): string[] => (headers.get("x-edgelm-ignored-fields") ?? "").split(", ").filter((f) => f.length > 0);

/** Shows the template variable `greeting` after the messages, so its effect is visible in the prompt's length. */
const GREETING_TEMPLATE =
  "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}{% if greeting %}{{ greeting + '\\n' }}{% endif %}" +
  "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}";

describe("request fields: lenient by default", () => {
  let fixture: GatewayFixture;
  let client: OpenAI;
  let ollama: Ollama;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-fields-"));
    const greeting = await writeTemplatedStories(dir, GREETING_TEMPLATE, {}, "greeting.gguf");
    fixture = await startGateway({ models: [storiesModel({ parallel: 2 }), storiesModel({ name: "greeting", ref: greeting, parallel: 1 })] });
    client = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
    ollama = new Ollama({ host: fixture.url });
  });
  after(async () => {
    await fixture?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const chat = { model: "stories", messages: [{ role: "user", content: "Hi" }], max_tokens: 3, temperature: 0 };

  it("ignores unknown OpenAI fields at any depth, names them in a header, and answers as without them", async () => {
    const plain = await post(`${fixture.url}/v1/chat/completions`, chat);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get("x-edgelm-ignored-fields"), null);
    const r = await post(`${fixture.url}/v1/chat/completions`, {
      ...chat,
      frobnicate: true,
      messages: [{ role: "user", content: "Hi", mood: "happy" }],
      stream_options: undefined,
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(ignoredOf(r.headers).sort(), ["frobnicate", "messages[0].mood"]);
    assert.equal(r.json.choices[0].message.content, plain.json.choices[0].message.content);
    // Streamed responses carry the header too.
    const stream = await fetch(`${fixture.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...chat, stream: true, colour: "red" }),
    });
    assert.equal(stream.status, 200);
    assert.deepEqual(ignoredOf(stream.headers), ["colour"]);
    assert.match(await stream.text(), /data: \[DONE\]/);
    const completion = await post(`${fixture.url}/v1/completions`, { model: "stories", prompt: "Once", max_tokens: 2, best_of_n: 3 });
    assert.equal(completion.status, 200);
    assert.deepEqual(ignoredOf(completion.headers), ["best_of_n"]);
    const responses = await post(`${fixture.url}/v1/responses`, { model: "stories", input: "Hi", max_output_tokens: 2, context_management: {} });
    assert.equal(responses.status, 200, responses.text);
    assert.deepEqual(ignoredOf(responses.headers), ["context_management"]);
    // A known field with a wrong type is still a 400 when an unknown one comes with it.
    const bad = await post(`${fixture.url}/v1/chat/completions`, { ...chat, temperature: "hot", frobnicate: 1 });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.param, "temperature");
  });

  it("accepts the fields the openai SDK's types define", async () => {
    const { data, response } = await client.chat.completions
      .create({
        ...chat,
        messages: [{ role: "user", content: "Hi" }],
        prompt_cache_key: "user-42",
        prompt_cache_retention: "24h",
        safety_identifier: "hashed-user",
        verbosity: "low",
        store: false,
        metadata: { app: "test" },
        service_tier: "auto",
        user: "someone",
      })
      .withResponse();
    assert.equal(data.choices[0]!.finish_reason, "length");
    assert.equal(response.headers.get("x-edgelm-ignored-fields"), null);
  });

  it("ignores unknown Ollama fields and options (truncate, shift, a new option), named in the header", async () => {
    const generated = await ollama.generate({ model: "stories", prompt: "Once", stream: false, options: { num_predict: 2, temperature: 0, warp_speed: 9 } as never, shift: true } as never as { model: string; prompt: string; stream: false });
    assert.equal(generated.done, true);
    const r = await post(`${fixture.url}/api/generate`, {
      model: "stories",
      prompt: "Once",
      stream: false,
      options: { num_predict: 2, temperature: 0, warp_speed: 9 },
      colour: "red",
      shift: false,
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(ignoredOf(r.headers).sort(), ["colour", "options.warp_speed"]);
    assert.equal(r.json.response, generated.response);
    const c = await post(`${fixture.url}/api/chat`, { model: "stories", messages: [{ role: "user", content: "Hi", mood: 1 }], stream: false, options: { num_predict: 1 } });
    assert.equal(c.status, 200, c.text);
    assert.deepEqual(ignoredOf(c.headers), ["messages[0].mood"]);
  });

  it("honours llama-server's extras: grammar, n_probs, cache_prompt, chat_template_kwargs; refuses samplers it lacks", async () => {
    const grammar = 'root ::= "yes" | "no"';
    for (const seed of [1, 2, 3]) {
      const r = await post(`${fixture.url}/v1/chat/completions`, { ...chat, max_tokens: 8, temperature: 1, seed, grammar, cache_prompt: false });
      assert.equal(r.status, 200, r.text);
      assert.match(r.json.choices[0].message.content, /^(yes|no)$/);
    }
    const broken = await post(`${fixture.url}/v1/chat/completions`, { ...chat, grammar: "root ::= (" });
    assert.equal(broken.status, 400, broken.text);
    assert.equal(broken.json.error.param, "grammar");
    const both = await post(`${fixture.url}/v1/chat/completions`, { ...chat, grammar, response_format: { type: "json_object" } });
    assert.equal(both.status, 400);
    assert.equal(both.json.error.param, "grammar");
    const probs = await post(`${fixture.url}/v1/chat/completions`, { ...chat, n_probs: 2 });
    assert.equal(probs.status, 200, probs.text);
    assert.equal(probs.json.choices[0].logprobs.content.length, 3);
    assert.equal(probs.json.choices[0].logprobs.content[0].top_logprobs.length, 2);
    const neutral = await post(`${fixture.url}/v1/chat/completions`, { ...chat, typical_p: 1, mirostat: 0, n_keep: 4, samplers: ["top_k"] });
    assert.equal(neutral.status, 200, neutral.text);
    // typical_p is llama-server's: this gateway serves on node-llama-cpp, which has no such sampler.
    const typical = await post(`${fixture.url}/v1/completions`, { model: "stories", prompt: "Once", max_tokens: 2, typical_p: 0.5 });
    assert.equal(typical.status, 400, typical.text);
    assert.equal(typical.json.error.param, "typical_p");
    assert.match(typical.json.error.message, /node-llama-cpp engine has no locally typical sampler/);
    const ollamaTypical = await post(`${fixture.url}/api/generate`, { model: "stories", prompt: "Once", stream: false, options: { num_predict: 2, typical_p: 0.5 } });
    assert.equal(ollamaTypical.status, 400, ollamaTypical.text);
    for (const field of ["mirostat", "xtc_probability", "dry_multiplier", "dynatemp_range"]) {
      const refused = await post(`${fixture.url}/v1/completions`, { model: "stories", prompt: "Once", max_tokens: 2, [field]: 0.5 });
      assert.equal(refused.status, 400, `${field}: ${refused.text}`);
      assert.equal(refused.json.error.param, field);
      assert.match(refused.json.error.message, new RegExp(`^${field}: this engine has no such sampler`));
    }
    // The template variable reaches the model's template: the prompt grows by the greeting's tokens.
    const base = { model: "greeting", messages: [{ role: "user", content: "Hi" }], max_tokens: 1 };
    const without = await post(`${fixture.url}/v1/chat/completions`, base);
    const withKwargs = await post(`${fixture.url}/v1/chat/completions`, { ...base, chat_template_kwargs: { greeting: "Once upon a time there was a dog", messages: [] } });
    assert.equal(withKwargs.status, 200, withKwargs.text);
    assert.ok(withKwargs.json.usage.prompt_tokens > without.json.usage.prompt_tokens + 5, `${withKwargs.json.usage.prompt_tokens} vs ${without.json.usage.prompt_tokens}`);
  });

  it("answers a body of any kind sent to a path that does not exist with 404", async () => {
    for (const [path, shape] of [
      ["/nothing", "openai"],
      ["/v1/nothing", "openai"],
      ["/api/nothing", "ollama"],
    ] as const) {
      for (const body of ["this is not json", "{oops", '{"model": "stories"}']) {
        const r = await post(`${fixture.url}${path}`, body);
        assert.equal(r.status, 404, `${path} ${body}: ${r.text}`);
        if (shape === "ollama") assert.match(r.json.error, /there is no POST \/api\/nothing/);
        else assert.equal(r.json.error.code, "route_not_found");
      }
    }
    // On a route that exists, a broken body is still a 400 saying so.
    const broken = await post(`${fixture.url}/v1/chat/completions`, "{oops");
    assert.equal(broken.status, 400);
    assert.match(broken.json.error.message, /not valid JSON/);
  });
});

describe("request fields: server.strict_fields", () => {
  let fixture: GatewayFixture;
  before(async () => {
    fixture = await startGateway({ models: [demoModel({ parallel: 1 })], server: { strict_fields: true } });
  });
  after(async () => fixture?.close());

  it("refuses unknown fields by name in both dialects", async () => {
    const chat = await post(`${fixture.url}/v1/chat/completions`, { model: "demo", messages: [{ role: "user", content: "Hi", mood: 1 }] });
    assert.equal(chat.status, 400);
    assert.equal(chat.json.error.param, "messages[0].mood");
    assert.match(chat.json.error.message, /unknown field "messages\[0\]\.mood"/);
    const generate = await post(`${fixture.url}/api/generate`, { model: "demo", prompt: "x", options: { warp_speed: 9 } });
    assert.equal(generate.status, 400);
    assert.match(generate.json.error, /unknown field "options\.warp_speed"/);
    // Known fields stay accepted: the SDK's and Ollama's own.
    const known = await post(`${fixture.url}/v1/chat/completions`, { model: "demo", messages: [{ role: "user", content: "Hi" }], max_tokens: 1, prompt_cache_key: "k", cache_prompt: true });
    assert.equal(known.status, 200, known.text);
    const ollamaKnown = await post(`${fixture.url}/api/generate`, { model: "demo", prompt: "x", stream: false, truncate: true, shift: true, options: { num_predict: 1 } });
    assert.equal(ollamaKnown.status, 200, ollamaKnown.text);
  });
});
