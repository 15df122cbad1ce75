/**
 * Events from answers end to end: a real gateway serving the demo model, its
 * outbox forwarding to an HTTP receiver. Schema-constrained answers whose enums
 * have a single value make the field values certain, so each assertion can fail.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { collect, InferenceClient } from "../grpc/grpc-client.js";
import { get, sampleValue, startOpsGateway, type OpsFixture } from "../ops/ops-gateway-fixture.js";
import { demoModel, waitFor } from "../server/gateway-fixture.js";
import { startDedupReceiver, type DedupReceiver } from "./dedup-receiver.js";

const EMAIL = "bob.smith@example.com";
/** Every answer to this schema is {"label":"suspicious","note":"seen near <EMAIL>"} (whitespace aside). */
const SUSPICIOUS = {
  type: "object",
  properties: { label: { type: "string", enum: ["suspicious"] }, note: { type: "string", enum: [`seen near ${EMAIL}`] } },
  required: ["label", "note"],
  additionalProperties: false,
};
/** Answers that no rule matches. */
const CLEAR = { type: "object", properties: { label: { type: "string", enum: ["clear"] } }, required: ["label"], additionalProperties: false };

interface Received {
  key: string;
  body: { id: string; event: Record<string, any> };
}

describe("router.events.emit: events from local answers", () => {
  let receiver: DedupReceiver;
  let fixture: OpsFixture;
  let openai: OpenAI;
  const received: Received[] = [];

  before(async () => {
    receiver = await startDedupReceiver(0, (body, key) => received.push({ key, body: body as Received["body"] }));
    fixture = await startOpsGateway({
      models: [demoModel()],
      config: {
        server: { grpc: { port: 0 } },
        router: {
          events: {
            sinks: [{ type: "http", url: receiver.url, timeout_ms: 2000 }],
            gateway_id: "cam-7",
            emit: [
              { name: "suspicious", models: ["demo"], type: "camera.suspicious", source: "gate-3", when: { field: "label", equals: "suspicious" }, include: ["note"] },
              { name: "benign", type: "camera.benign", when: { field: "label", in: ["benign", "empty"] } },
              { name: "alarm", models: ["demo"], type: "camera.alarm", when: { in: ["alarm"] } },
              { name: "elsewhere", models: ["other"], type: "camera.other", when: { field: "label", equals: "suspicious" } },
            ],
          },
        },
      },
    });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "none" });
  });

  after(async () => {
    await fixture?.close();
    await receiver?.close();
  });

  /** Waits until `count` distinct events arrived; returns them in order. */
  async function events(count: number): Promise<Received[]> {
    await waitFor(() => receiver.keys.length >= count, 20_000, `${count} events at the receiver`);
    return receiver.keys.map((key) => received.find((r) => r.key === key)!);
  }

  it("emits exactly one compact, redacted event per matching answer, from OpenAI, Ollama and gRPC, streamed or not", async () => {
    const chat = await openai.chat.completions.create({
      model: "demo",
      messages: [{ role: "user", content: "What does the camera see?" }],
      max_tokens: 200,
      response_format: { type: "json_schema", json_schema: { name: "sighting", schema: SUSPICIOUS, strict: true } },
    });
    const content = chat.choices[0]!.message.content!;
    assert.deepEqual(JSON.parse(content), { label: "suspicious", note: `seen near ${EMAIL}` }, "the client's answer is untouched (redaction is for the event only)");
    const [first] = await events(1);
    assert.equal(first!.key, first!.body.id);
    const event = first!.body.event;
    assert.match(event.request_id, /^req-/);
    assert.ok(!Number.isNaN(Date.parse(event.at)));
    assert.deepEqual(
      { ...event, request_id: "-", at: "-" },
      { type: "camera.suspicious", source: "gate-3", rule: "suspicious", model: "demo", request_id: "-", at: "-", gateway: "cam-7", data: { label: "suspicious", note: "seen near [EMAIL_1]" } },
    );
    assert.ok(!JSON.stringify(first!.body).includes(EMAIL), "no personal data leaves the device");
    assert.ok(!JSON.stringify(first!.body).includes("camera see"), "the prompt never rides along");

    // Ollama, streamed (NDJSON): the same seam.
    const ollama = new Ollama({ host: fixture.url });
    let ollamaText = "";
    for await (const part of await ollama.chat({ model: "demo", messages: [{ role: "user", content: "Again?" }], format: SUSPICIOUS, stream: true, options: { num_predict: 200 } })) {
      ollamaText += part.message.content;
    }
    assert.equal(JSON.parse(ollamaText).label, "suspicious");
    // gRPC, streamed.
    const client = new InferenceClient(fixture.node.grpc!.address, grpc.credentials.createInsecure());
    try {
      const streamed = await collect(client.Generate({ model: "demo", prompt: "Look", options: { max_tokens: 200, response_format: { type: "TYPE_JSON_SCHEMA", json_schema: JSON.stringify(SUSPICIOUS) } } }));
      assert.equal(JSON.parse(streamed.text).label, "suspicious");
    } finally {
      client.close();
    }
    const three = await events(3);
    assert.deepEqual(three.map((r) => r.body.event.rule), ["suspicious", "suspicious", "suspicious"]);
    assert.equal(new Set(three.map((r) => r.body.event.request_id)).size, 3, "one event per answer");
    for (const r of three) assert.deepEqual(r.body.event.data, { label: "suspicious", note: "seen near [EMAIL_1]" });
  });

  it("emits nothing for answers no rule matches, and a label event for a classification answer", async () => {
    const before = receiver.keys.length;
    // A JSON answer whose label no rule lists, free text, and a streamed label no rule lists.
    const clear = await openai.chat.completions.create({
      model: "demo",
      messages: [{ role: "user", content: "Anything?" }],
      max_tokens: 40,
      response_format: { type: "json_schema", json_schema: { name: "sighting", schema: CLEAR, strict: true } },
    });
    assert.equal(JSON.parse(clear.choices[0]!.message.content!).label, "clear");
    // Greedy, so the demo model writes a few words here (sampled, it may end at once and leave nothing to match).
    const text = await openai.completions.create({ model: "demo", prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
    assert.ok(text.choices[0]!.text.length > 0);
    const calm = await openai.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "Label it" }], max_tokens: 8, stream: true, grammar: 'root ::= "calm"' } as any);
    let calmText = "";
    for await (const chunk of calm as any) calmText += chunk.choices[0]?.delta?.content ?? "";
    assert.equal(calmText, "calm");
    // A classification answer that matches: its event is queued after any the answers above could have made.
    const alarm = await openai.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "Label it" }], max_tokens: 8, grammar: 'root ::= "alarm\\n"' } as any);
    assert.equal(alarm.choices[0]!.message.content, "alarm\n");
    const all = await events(before + 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.keys.length, before + 1, "exactly one more event");
    const last = all.at(-1)!.body.event;
    assert.equal(last.rule, "alarm");
    assert.equal(last.type, "camera.alarm");
    assert.equal(last.source, "demo", "source defaults to the model");
    assert.deepEqual(last.data, { label: "alarm" });

    const metrics = (await get(`${fixture.url}/metrics`)).text;
    assert.equal(sampleValue(metrics, 'edgelm_answer_events_total{rule="suspicious"}'), 3);
    assert.equal(sampleValue(metrics, 'edgelm_answer_events_total{rule="alarm"}'), 1);
    assert.equal(sampleValue(metrics, 'edgelm_answer_events_total{rule="benign"}'), 0);
    assert.equal(sampleValue(metrics, 'edgelm_answer_events_total{rule="elsewhere"}'), 0);
    assert.equal(sampleValue(metrics, 'edgelm_answer_events_failed_total{rule="suspicious"}'), 0);
    assert.equal(receiver.posts() >= receiver.keys.length, true);
  });

  it("emits one event per choice for OpenAI's n > 1, streamed or not, each with its own id and index", async () => {
    const before = receiver.keys.length;
    const format = { type: "json_schema", json_schema: { name: "sighting", schema: SUSPICIOUS, strict: true } } as const;
    const whole = await openai.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "Twice?" }], max_tokens: 200, n: 2, response_format: format });
    assert.equal(whole.choices.length, 2);
    const streamed = await openai.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "Thrice?" }], max_tokens: 200, n: 3, stream: true, response_format: format });
    const texts = ["", "", ""];
    for await (const chunk of streamed) for (const choice of chunk.choices) texts[choice.index] += choice.delta?.content ?? "";
    for (const text of texts) assert.equal(JSON.parse(text).label, "suspicious");
    const all = (await events(before + 5)).slice(before);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.keys.length, before + 5, "one event per choice, no more");
    const byRequest = new Map<string, number[]>();
    for (const r of all) {
      const event = r.body.event;
      assert.equal(r.body.id, `answer-${event.request_id}-choice-${event.choice}-suspicious`);
      byRequest.set(event.request_id, [...(byRequest.get(event.request_id) ?? []), event.choice].sort());
    }
    assert.deepEqual([...byRequest.values()].sort((a, b) => a.length - b.length), [[0, 1], [0, 1, 2]]);
  });
});
