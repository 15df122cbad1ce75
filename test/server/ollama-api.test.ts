import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Ollama } from "ollama";
import { startGateway, type GatewayFixture } from "./gateway-fixture.js";

async function post(url: string, body: unknown) {
  const response = await fetch(url, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as any };
}

describe("Ollama API through the official client", () => {
  let fixture: GatewayFixture;
  let ollama: Ollama;
  before(async () => {
    fixture = await startGateway();
    ollama = new Ollama({ host: fixture.url });
  });
  after(async () => fixture?.close());

  it("lists models, running models, details and the version", async () => {
    const tags = await ollama.list();
    assert.deepEqual(tags.models.map((m) => m.name).sort(), ["demo:latest", "stories:latest"]);
    const stories = tags.models.find((m) => m.name === "stories:latest")!;
    assert.equal(stories.details.family, "llama");
    assert.equal(stories.details.format, "gguf");
    assert.equal(stories.details.quantization_level, "F32");
    assert.equal(stories.details.parameter_size, "292.8K");
    assert.match(stories.digest, /^[0-9a-f]{64}$/);
    assert.ok(stories.size > 1_000_000);
    const ps = await ollama.ps();
    assert.equal(ps.models.length, 2);
    const running = ps.models.find((m) => m.name === "demo:latest") as any;
    assert.equal(running.context_length, 2048);
    assert.equal(running.edgelm.backend, "node-llama-cpp");
    assert.equal(running.edgelm.hash_verified, true);
    assert.equal(running.edgelm.runners.length, 1);
    const show = await ollama.show({ model: "stories" });
    assert.equal(show.details.family, "llama");
    assert.equal((show.model_info as any)["llama.context_length"], 2048);
    assert.equal((show.model_info as any)["llama.embedding_length"], 64);
    assert.ok(show.capabilities.includes("completion"));
    assert.match(show.modelfile, /FROM .*stories260K\.gguf/);
  });

  it("answers /api/version with an Ollama version clients accept, and edgelm's own beside it", async () => {
    const version = await ollama.version();
    // Clients compare it as a semver, e.g. >= 0.5.0 before sending a JSON schema as `format`.
    const parts = /^(\d+)\.(\d+)\.(\d+)$/.exec(version.version);
    assert.ok(parts, version.version);
    assert.equal(version.version, "0.6.4");
    assert.ok(Number(parts[1]) > 0 || Number(parts[2]) >= 5, `${version.version} is older than the structured outputs edgelm serves`);
    const raw = (await (await fetch(`${fixture.url}/api/version`)).json()) as { version: string; edgelm_version: string };
    const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
    assert.deepEqual(raw, { version: "0.6.4", edgelm_version: pkg.version });
  });

  it("generates with Ollama's options, streamed as NDJSON or in one object", async () => {
    const whole = await ollama.generate({ model: "stories", prompt: "Once upon a time", stream: false, options: { num_predict: 20, temperature: 0 } });
    assert.equal(whole.done, true);
    assert.equal(whole.done_reason, "length");
    assert.equal(whole.eval_count, 20);
    assert.ok(whole.prompt_eval_count >= 4);
    assert.ok(whole.total_duration > 0 && whole.total_duration >= whole.eval_duration);
    assert.ok(whole.eval_duration > 1000, "durations are in nanoseconds");
    assert.ok(whole.response!.length > 0);
    const stream = await ollama.generate({ model: "stories:latest", prompt: "Once upon a time", stream: true, options: { num_predict: 20, temperature: 0 } });
    let text = "";
    let last: any;
    for await (const part of stream) {
      text += part.response;
      last = part;
    }
    assert.equal(text, whole.response);
    assert.equal(last.done, true);
    assert.equal(last.done_reason, "length");
    assert.equal(last.eval_count, 20);
    const stopped = await ollama.generate({ model: "stories", prompt: "Once upon a time", stream: false, options: { num_predict: 30, temperature: 0, stop: ["girl"] } });
    assert.equal(stopped.done_reason, "stop");
    assert.ok(!stopped.response!.includes("girl"));
  });

  it("chats, streamed and not, with seeds reproducible", async () => {
    const messages = [{ role: "user", content: "Tell me a story." }];
    const a = await ollama.chat({ model: "stories", messages, stream: false, options: { seed: 5, temperature: 1, num_predict: 30 } });
    const b = await ollama.chat({ model: "stories", messages, stream: false, options: { seed: 5, temperature: 1, num_predict: 30 } });
    assert.equal(a.message.role, "assistant");
    assert.equal(a.message.content, b.message.content);
    assert.equal(a.done_reason, "length");
    const stream = await ollama.chat({ model: "stories", messages, stream: true, options: { seed: 5, temperature: 1, num_predict: 30 } });
    let text = "";
    for await (const part of stream) text += part.message.content;
    assert.equal(text, a.message.content);
  });

  it("follows a JSON schema given as format", async () => {
    const format = {
      type: "object",
      properties: { pet: { type: "string", enum: ["cat", "dog"] }, legs: { type: "integer" } },
      required: ["pet", "legs"],
    };
    const r = await ollama.chat({ model: "demo", messages: [{ role: "user", content: "A pet?" }], format, stream: false, options: { temperature: 0, num_predict: 80 } });
    const value = JSON.parse(r.message.content) as { pet: string; legs: number };
    assert.ok(["cat", "dog"].includes(value.pet));
    assert.ok(Number.isInteger(value.legs));
    assert.equal(r.done_reason, "stop");
  });

  it("embeds with /api/embed and the older /api/embeddings", async () => {
    const e = await ollama.embed({ model: "stories", input: ["Once upon a time", "a red ball"] });
    assert.equal(e.embeddings.length, 2);
    assert.equal(e.embeddings[0]!.length, 64);
    assert.ok(e.prompt_eval_count > 4);
    // Inputs beyond the context are truncated by default, as Ollama does.
    const long = await ollama.embed({ model: "stories", input: "a red ball ".repeat(400) });
    assert.equal(long.embeddings.length, 1);
    const refused = await post(`${fixture.url}/api/embed`, { model: "stories", input: "a red ball ".repeat(400), truncate: false });
    assert.equal(refused.status, 400);
    assert.match(refused.json.error, /context holds 512/);
    const many = await post(`${fixture.url}/api/embed`, { model: "stories", input: Array.from({ length: 2049 }, () => "a") });
    assert.equal(many.status, 400, "2,049 texts are more than one request may hold a slot for");
    assert.match(many.json.error, /^input: at most 2048 texts per request, got 2049$/);
    const old = await ollama.embeddings({ model: "stories", prompt: "Once upon a time" });
    assert.deepEqual(old.embedding.map((v) => v.toFixed(5)), e.embeddings[0]!.map((v) => v.toFixed(5)));
  });

  it("answers a load request (no prompt) once the model is loaded", async () => {
    const r = await post(`${fixture.url}/api/generate`, { model: "demo" });
    assert.equal(r.status, 200);
    assert.equal(r.json.done, true);
    assert.equal(r.json.done_reason, "load");
    const chat = await post(`${fixture.url}/api/chat`, { model: "demo", messages: [] });
    assert.equal(chat.json.message.content, "");
  });

  it("answers bad input with Ollama's error shape and the right status", async () => {
    const url = `${fixture.url}/api/generate`;
    const cases: Array<[unknown, number, RegExp]> = [
      ["{oops", 400, /not valid JSON/],
      [{ model: "stories", prompt: 5 }, 400, /^prompt: expected string/],
      [{ model: "stories", prompt: "x", options: { num_predict: 0 } }, 400, /^options\.num_predict: must be a positive integer, or -1/],
      [{ model: "stories", prompt: "x", options: { temperature: "hot" } }, 400, /^options\.temperature/],
      [{ model: "stories", prompt: "x", images: ["aGk="] }, 400, /^images: this model does not support images/],
      [{ model: "stories", prompt: "x", think: true }, 400, /^think:/],
      [{ model: "stories", prompt: "x", format: 7 }, 400, /^format:/],
      [{ model: "nope", prompt: "x" }, 404, /model "nope" is not served here/],
      [{ model: "stories", prompt: "Once upon a time there was a girl. ".repeat(80), truncate: false }, 400, /the prompt is \d+ tokens but the context holds 512/],
    ];
    for (const [body, status, pattern] of cases) {
      const r = await post(url, body);
      assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 80)} → ${JSON.stringify(r.json)}`);
      assert.deepEqual(Object.keys(r.json), ["error"]);
      assert.match(r.json.error, pattern);
    }
    const tools = await post(`${fixture.url}/api/chat`, { model: "stories", messages: [{ role: "user", content: "x" }], tools: [{ type: "function" }] });
    assert.equal(tools.status, 400);
    assert.match(tools.json.error, /tools\[0\]\.function/);
    await assert.rejects(ollama.generate({ model: "missing", prompt: "x" }), (e: any) => e.status_code === 404 && /not served/.test(e.error));
    const route = await fetch(`${fixture.url}/api/unheard-of`, { method: "POST", body: "{}" });
    assert.equal(route.status, 404);
    assert.match(((await route.json()) as { error: string }).error, /there is no POST \/api\/unheard-of/);
  });

  it("caps the context with num_ctx", async () => {
    const r = await post(`${fixture.url}/api/generate`, { model: "stories", prompt: "Once upon a time there was a girl.", options: { num_ctx: 16, temperature: 0 }, stream: false });
    assert.equal(r.status, 200);
    assert.equal(r.json.done_reason, "length");
    assert.equal(r.json.prompt_eval_count + r.json.eval_count, 16);
  });
});
