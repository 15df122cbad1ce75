/**
 * Request bodies and schemas beyond their budgets are refused in the gateway
 * with a 400 naming the limit, in every dialect and on both engines, while
 * other clients' streams go on and no runner restarts: nested `format` /
 * `response_format` schemas of 3,000 and 10,000 levels (which used to kill a
 * runner and to hang a request until its deadline), schemas too deep, too
 * large or with too many enum values, counts that expand into huge grammars
 * (`minItems: 100000000`, a pattern's `{100000000}`, 1,900 bounded text fields),
 * and a 4 MB prompt (refused on its bytes, before any tokenizer sees it).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import type { ConfigInput } from "../../src/config/schema.js";
import { testLlamaServer } from "../helpers.js";
import { startGateway, storiesModel, type GatewayFixture } from "./gateway-fixture.js";

/** `{"a":{"a":...1}}` nested `levels` deep, built as text (no recursive serializer involved). */
export function nestedObjectText(levels: number): string {
  return '{"a":'.repeat(levels) + "1" + "}".repeat(levels);
}

/** A body with `schema` (JSON text) where each dialect takes an output schema. */
export function schemaBodies(model: string, schema: string): Array<[string, string]> {
  const messages = `[{"role":"user","content":"Once upon a time"}]`;
  return [
    ["/api/generate", `{"model":"${model}","prompt":"Once upon a time","stream":false,"format":${schema}}`],
    ["/api/chat", `{"model":"${model}","messages":${messages},"stream":false,"format":${schema}}`],
    ["/v1/chat/completions", `{"model":"${model}","messages":${messages},"response_format":{"type":"json_schema","json_schema":{"name":"out","schema":${schema}}}}`],
    ["/v1/responses", `{"model":"${model}","input":"Once upon a time","text":{"format":{"type":"json_schema","name":"out","schema":${schema}}}}`],
  ];
}

async function post(url: string, path: string, body: string): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(20_000) });
  return { status: response.status, text: await response.text(), ms: performance.now() - started };
}

/** Streams `count` chat completions of `maxTokens` tokens; resolves once each has its first chunk, with a promise of how each ended. */
async function otherClients(openai: OpenAI, count: number, maxTokens: number): Promise<Promise<string[]>> {
  const firsts: Array<Promise<void>> = [];
  const ends: Array<Promise<string>> = [];
  for (let i = 0; i < count; i++) {
    let first!: () => void;
    firsts.push(new Promise<void>((r) => (first = r)));
    ends.push(
      (async () => {
        const stream = await openai.chat.completions.create({ model: "stories", messages: [{ role: "user", content: "Once upon a time" }], max_tokens: maxTokens, temperature: 0, stream: true });
        let finish = "none";
        for await (const chunk of stream) {
          first();
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        return finish;
      })()
        .catch((error: Error) => `error: ${error.message}`)
        .finally(() => first()),
    );
  }
  await Promise.all(firsts);
  return Promise.all(ends);
}

function describeBudgets(engine: string, config: () => Promise<ConfigInput>): void {
  describe(`request budgets (${engine})`, () => {
    let fixture: GatewayFixture;
    let openai: OpenAI;
    let restarts = 0;
    let pids: Array<number | undefined>;

    before(async () => {
      fixture = await startGateway({
        models: [storiesModel({ parallel: 4 })],
        server: { body_limit_bytes: 8 * 1024 * 1024 },
        config: { ...(await config()), router: { events: { url: "http://127.0.0.1:9/events" } } },
      });
      openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
      fixture.gateway.events.on("runner:restart", () => restarts++);
      fixture.gateway.events.on("runner:exit", () => restarts++);
      pids = fixture.gateway.status("stories").runners.map((r) => r.pid);
    });
    after(async () => {
      await fixture?.close();
    });

    const assertRunnersUntouched = async (): Promise<void> => {
      assert.equal(restarts, 0, "no runner exited or restarted");
      assert.deepEqual(fixture.gateway.status("stories").runners.map((r) => r.pid), pids);
      const ready = await fetch(`${fixture.url}/ready`);
      assert.equal(ready.status, 200, "/ready still says ready");
      const status = fixture.gateway.status("stories");
      assert.equal(status.runners.reduce((n, r) => n + r.inFlight, 0), 0, "no request holds a slot");
    };

    for (const levels of [3000, 10_000]) {
      it(`${levels}-level nested schemas get a 400 naming server.json_max_depth in every dialect; other streams complete`, async () => {
        const ends = await otherClients(openai, 3, 200);
        const bodies = [...schemaBodies("stories", nestedObjectText(levels)), ["/v1/events", nestedObjectText(levels)] as [string, string]];
        const answers = await Promise.all(bodies.map(([path, body]) => post(fixture.url, path, body)));
        for (const [i, answer] of answers.entries()) {
          assert.equal(answer.status, 400, `${bodies[i]![0]}: ${answer.text}`);
          assert.match(answer.text, /deeper than 64 levels.*server\.json_max_depth/, bodies[i]![0]);
          assert.ok(answer.ms < 5000, `${bodies[i]![0]} answered in ${answer.ms} ms`);
        }
        for (const end of await ends) assert.match(end, /^(length|stop)$/);
        await assertRunnersUntouched();
      });
    }

    const schemaCases: Array<[string, string, RegExp]> = [
      ["40 levels deep", nestedObjectText(40), /nests deeper than 32 levels; the limit is 32 \(server\.schema_max_depth\)/],
      [
        "2,001 objects",
        `{"type":"object","properties":{${Array.from({ length: 2001 }, (_, i) => `"p${i}":{"type":"string"}`).join(",")}}}`,
        /more than 2000 objects and arrays; the limit is 2000 \(server\.schema_max_nodes\)/,
      ],
      [
        "an enum of 3,000 values",
        `{"type":"string","enum":[${Array.from({ length: 3000 }, (_, i) => `"v${i}"`).join(",")}]}`,
        /more than 1000 enum values; the limit is 1000 \(server\.schema_max_enum_values\)/,
      ],
    ];
    for (const [name, schema, message] of schemaCases) {
      it(`a schema with ${name} gets a 400 naming its limit in every dialect`, async () => {
        for (const [path, body] of schemaBodies("stories", schema)) {
          const answer = await post(fixture.url, path, body);
          assert.equal(answer.status, 400, `${path}: ${answer.text}`);
          assert.match(answer.text, message, path);
        }
        await assertRunnersUntouched();
      });
    }

    // Counts that llama.cpp's grammar parser expands into grammar elements (src/engine/grammar-expansion.ts).
    const manyTextFields = `{"type":"object","properties":{${Array.from({ length: 1900 }, (_, i) => `"p${i}":{"type":"string","maxLength":${1999 - (i % 900)}}`).join(",")}}}`;
    const countCases: Array<[string, string, RegExp]> = [
      ["minItems 100,000,000", `{"type":"array","items":{"type":"string"},"minItems":100000000}`, /has minItems 100000000; the grammar engines repeat one item at most 1999 times/],
      ["minLength 50,000,000", `{"type":"string","minLength":50000000}`, /has minLength 50000000; the grammar engines repeat one item at most 1999 times/],
      ["the pattern ^a{100000000}$", `{"type":"string","pattern":"^a{100000000}$"}`, /has the pattern quantifier \{100000000\}, a count of 100000000; the grammar engines repeat/],
      // 1,900 strings with a maxLength near 1,999 (106 KB): llama-server spent 1.2 GB and 6.8 s compiling it, a node runner 490 MB and 5 s.
      ["1,900 text fields of maxLength ~1,999", manyTextFields, /expands into more than 100000 grammar elements .*maxLength \d+ took it past\); the limit is 100000 \(server\.schema_max_repetitions\)/],
    ];
    for (const [name, schema, message] of countCases) {
      it(`a schema with ${name} gets a 400 naming it, as a response format, an Ollama format and a tool's parameters; other streams complete`, async () => {
        const ends = await otherClients(openai, 2, 200);
        const tool = `[{"type":"function","function":{"name":"fill","parameters":${schema}}}]`;
        const bodies: Array<[string, string]> = [
          ...schemaBodies("stories", schema),
          ["/completion", `{"prompt":"Once upon a time","n_predict":8,"json_schema":${schema}}`],
          ["/v1/chat/completions", `{"model":"stories","messages":[{"role":"user","content":"hi"}],"tools":${tool}}`],
          ["/api/chat", `{"model":"stories","messages":[{"role":"user","content":"hi"}],"stream":false,"tools":${tool}}`],
        ];
        const answers = await Promise.all(bodies.map(([path, body]) => post(fixture.url, path, body)));
        for (const [i, answer] of answers.entries()) {
          assert.equal(answer.status, 400, `${bodies[i]![0]}: ${answer.text}`);
          assert.match(answer.text, message, bodies[i]![0]);
          assert.ok(answer.ms < 5000, `${bodies[i]![0]} answered in ${answer.ms} ms`);
        }
        for (const end of await ends) assert.match(end, /^(length|stop)$/);
        await assertRunnersUntouched();
      });
    }

    it("a schema with ordinary text fields (maxLength 2000 and 10,000) is served in every dialect", async () => {
      const schema = `{"type":"object","properties":{"title":{"type":"string","maxLength":2000},"body":{"type":"string","maxLength":10000},"tags":{"type":"array","items":{"type":"string","maxLength":40},"maxItems":20}},"required":["title"]}`;
      const bodies: Array<[string, string]> = [...schemaBodies("stories", schema), ["/completion", `{"prompt":"Once upon a time","n_predict":12,"json_schema":${schema}}`]];
      for (const [path, body] of bodies) {
        const answer = await post(fixture.url, path, body);
        assert.equal(answer.status, 200, `${path}: ${answer.text}`);
        assert.match(answer.text, /\{ ?\\"title\\"/, `${path}: the output follows the schema`);
      }
      await assertRunnersUntouched();
    });

    it("a tool whose parameters schema is beyond the budget gets a 400", async () => {
      const body = `{"model":"stories","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"deep","parameters":${nestedObjectText(40)}}}]}`;
      const answer = await post(fixture.url, "/v1/chat/completions", body);
      assert.equal(answer.status, 400, answer.text);
      assert.match(answer.text, /parameters schema of tool \\"deep\\" nests deeper than 32 levels/);
    });

    it("a schema within the budgets still constrains the output", async () => {
      const schema = `{"type":"object","properties":{"name":{"type":"string","maxLength":8},"n":{"type":"integer","minimum":0}},"required":["name","n"]}`;
      const answer = await post(fixture.url, "/v1/chat/completions", `{"model":"stories","messages":[{"role":"user","content":"hi"}],"max_tokens":60,"temperature":0,"response_format":{"type":"json_schema","json_schema":{"name":"o","schema":${schema}}}}`);
      assert.equal(answer.status, 200, answer.text);
      const content = (JSON.parse(answer.text) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content;
      const value = JSON.parse(content) as { name: unknown; n: unknown };
      assert.equal(typeof value.name, "string");
      assert.equal(typeof value.n, "number");
    });

    it("100,000 texts in one embeddings request get a 400 naming the limit in every dialect; another embedding is answered meanwhile", async () => {
      const many = `[${Array(100_000).fill('"a"').join(",")}]`;
      const other = post(fixture.url, "/api/embed", `{"model":"stories","input":"Once upon a time"}`);
      const answers = await Promise.all([
        post(fixture.url, "/api/embed", `{"model":"stories","input":${many}}`),
        post(fixture.url, "/embedding", `{"content":${many}}`),
        post(fixture.url, "/v1/embeddings", `{"model":"stories","input":${many}}`),
      ]);
      for (const answer of answers) {
        assert.equal(answer.status, 400, answer.text.slice(0, 300));
        assert.match(answer.text, /at most 2048 texts per request, got 100000/);
        assert.ok(answer.ms < 5000, `answered in ${answer.ms} ms`);
      }
      assert.equal((await other).status, 200);
      await assertRunnersUntouched();
    });

    it("a 4 MB prompt gets context_overflow from its bytes, before tokenizing, in both dialects", async () => {
      const ends = await otherClients(openai, 2, 200);
      const prompt = "Once upon a time ".repeat(Math.ceil((4 * 1024 * 1024) / 17));
      const answers = await Promise.all([
        post(fixture.url, "/v1/completions", JSON.stringify({ model: "stories", prompt, max_tokens: 4 })),
        post(fixture.url, "/api/generate", JSON.stringify({ model: "stories", prompt, stream: false, truncate: false })),
        post(fixture.url, "/v1/chat/completions", JSON.stringify({ model: "stories", messages: [{ role: "user", content: prompt }] })),
      ]);
      for (const answer of answers) {
        assert.equal(answer.status, 400, answer.text.slice(0, 300));
        assert.match(answer.text, /the prompt is \d+ bytes, at least \d+ tokens .* but the context holds 512/);
      }
      for (const end of await ends) assert.match(end, /^(length|stop)$/);
      await assertRunnersUntouched();
    });

    it("Ollama truncates a 4 MB prompt as it does any long one, cut on its bytes before tokenizing", async () => {
      const ends = await otherClients(openai, 2, 200);
      const prompt = `${"Once upon a time ".repeat(Math.ceil((4 * 1024 * 1024) / 17))}The end.`;
      const answers = await Promise.all([
        post(fixture.url, "/api/generate", JSON.stringify({ model: "stories", prompt, stream: false, options: { num_predict: 4 } })),
        post(fixture.url, "/api/chat", JSON.stringify({ model: "stories", messages: [{ role: "user", content: prompt }], stream: false, options: { num_predict: 4 } })),
      ]);
      for (const answer of answers) {
        assert.equal(answer.status, 200, answer.text.slice(0, 300));
        const body = JSON.parse(answer.text) as { prompt_eval_count: number; eval_count: number };
        assert.ok(body.prompt_eval_count > 0 && body.prompt_eval_count < 512, `prompt_eval_count ${body.prompt_eval_count}`);
        assert.equal(body.eval_count, 4);
      }
      for (const end of await ends) assert.match(end, /^(length|stop)$/);
      await assertRunnersUntouched();
    });

    it("a prompt just too long for the byte bound is still measured in tokens", async () => {
      // 3,000 bytes of words: within the byte bound for a 512-token context, but more tokens than fit.
      const answer = await post(fixture.url, "/v1/completions", JSON.stringify({ model: "stories", prompt: "Once upon a time ".repeat(180), max_tokens: 4 }));
      assert.equal(answer.status, 400, answer.text);
      assert.match(answer.text, /the prompt is \d+ tokens but the context holds 512/);
    });
  });
}

describeBudgets("node-llama-cpp", async () => ({}));
describeBudgets("llama-server", async () => ({ engine: { backend: "llama-server", llama_server: await testLlamaServer() } }));
