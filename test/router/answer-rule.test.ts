import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { emitRuleSchema, type EmitRuleConfig } from "../../src/config/sections/router-emit.js";
import { isEdgeError } from "../../src/errors.js";
import { AnswerEvents } from "../../src/router/answer-events.js";
import { AnswerRule } from "../../src/router/answer-rule.js";
import { Redactor } from "../../src/router/redactor.js";
import { GatewayEvents, type RequestAnswerEvent } from "../../src/scheduler/gateway-events.js";
import { tempHome } from "../helpers.js";

const rule = (input: Record<string, unknown>): EmitRuleConfig => emitRuleSchema.parse({ name: "r", type: "t", ...input });

function answer(text: string, extra: Partial<RequestAnswerEvent> = {}): RequestAnswerEvent {
  return { requestId: "req-1", route: "openai.chat", model: "demo", localModel: "demo", format: "json_schema", text, finishReason: "stop", ...extra };
}

/** The first config error's message for `events` (router.events), or "" when it loads. */
function eventsError(events: unknown): string {
  const { home, cleanup } = tempHome();
  try {
    loadConfig({ flags: { router: { events } } as ConfigInput, env: { EDGELM_HOME: home }, cwd: home });
    return "";
  } catch (error) {
    assert.ok(isEdgeError(error) && error.code === "invalid_config", String(error));
    return error.message;
  } finally {
    cleanup();
  }
}

describe("router.events.emit config", () => {
  const sinks = [{ type: "http", url: "http://127.0.0.1:1/v1/events" }];

  it("loads a field rule and a label rule with their defaults", () => {
    assert.equal(eventsError({ sinks, emit: [{ name: "a", type: "x", when: { field: "label", equals: "s" } }, { name: "b", type: "y", when: { in: ["cat", "dog"] } }] }), "");
    const parsed = rule({ when: { field: "label", in: ["a"] } });
    assert.deepEqual(parsed.include, []);
    assert.equal(parsed.max_value_chars, 256);
    assert.equal(parsed.when.ignore_case, false);
  });

  it("names what is wrong, with its path", () => {
    assert.match(eventsError({ sinks, emit: [{ name: "a", type: "x", when: { field: "label" } }] }), /router\.events\.emit\.0\.when.*exactly one of equals, in or matches/s);
    assert.match(eventsError({ sinks, emit: [{ name: "a", type: "x", when: { field: "label", equals: "s", in: ["s"] } }] }), /exactly one of equals, in or matches \(got equals and in\)/);
    assert.match(eventsError({ sinks, emit: [{ name: "a", type: "x", when: { matches: "(" } }] }), /router\.events\.emit\.0\.when\.matches.*not a valid regular expression/s);
    assert.match(eventsError({ sinks, emit: [{ name: "a", type: "x", when: { equals: 3 } }] }), /equals must be a string label/);
    assert.match(eventsError({ sinks, emit: [{ name: "a", type: "x", when: { in: ["a"] }, include: ["note"] }] }), /router\.events\.emit\.0\.include.*set when\.field too/s);
    assert.match(eventsError({ sinks, emit: [{ name: "a", type: "x y", when: { in: ["a"] } }] }), /router\.events\.emit\.0\.type/);
    assert.match(eventsError({ sinks, emit: [{ name: "Bad Name", type: "x", when: { in: ["a"] } }] }), /router\.events\.emit\.0\.name/);
    assert.match(eventsError({ sinks, emit: [{ name: "a", type: "x", when: { field: "a..b", equals: 1 } }] }), /router\.events\.emit\.0\.when\.field/);
    assert.match(eventsError({ sinks, emit: [{ name: "a", type: "x", when: { in: ["a"] } }, { name: "a", type: "y", when: { in: ["b"] } }] }), /router\.events\.emit\.1\.name.*already named "a"/s);
    assert.match(eventsError({ sinks, emit: [{ name: "a", type: "x", when: { in: ["a"] }, prompt: true }] }), /prompt/);
  });
});

describe("AnswerRule", () => {
  const redactor = new Redactor();

  it("matches a JSON field by equals, in and matches, with ignore_case", () => {
    const text = JSON.stringify({ label: "Suspicious", score: 0.9, box: { x: 1 } });
    assert.ok(new AnswerRule(rule({ when: { field: "label", equals: "Suspicious" } }), redactor).match(answer(text)));
    assert.equal(new AnswerRule(rule({ when: { field: "label", equals: "suspicious" } }), redactor).match(answer(text)), undefined);
    assert.ok(new AnswerRule(rule({ when: { field: "label", equals: "suspicious", ignore_case: true } }), redactor).match(answer(text)));
    assert.ok(new AnswerRule(rule({ when: { field: "label", in: ["benign", "Suspicious"] } }), redactor).match(answer(text)));
    assert.ok(new AnswerRule(rule({ when: { field: "label", matches: "^Sus" } }), redactor).match(answer(text)));
    assert.ok(new AnswerRule(rule({ when: { field: "score", in: [0.9] } }), redactor).match(answer(text)));
    assert.ok(new AnswerRule(rule({ when: { field: "box.x", equals: 1 } }), redactor).match(answer(text)));
    // An object is never equal to a scalar, and a missing field matches nothing.
    assert.equal(new AnswerRule(rule({ when: { field: "box", matches: "." } }), redactor).match(answer(text)), undefined);
    assert.equal(new AnswerRule(rule({ when: { field: "missing", equals: null } }), redactor).match(answer(text)), undefined);
  });

  it("reads fields only of answers to JSON requests, and labels of any local answer", () => {
    const json = new AnswerRule(rule({ when: { field: "label", equals: "s" } }), redactor);
    assert.equal(json.match(answer('{"label":"s"}', { format: undefined })), undefined, "free text that happens to be JSON");
    assert.equal(json.match(answer('{"label":"s"', {})), undefined, "cut-off JSON");
    const label = new AnswerRule(rule({ when: { in: ["cat", "dog"] } }), redactor);
    assert.deepEqual(label.match(answer("  dog\n", { format: undefined }))?.data, { label: "dog" });
    assert.equal(label.match(answer("a dog", { format: undefined })), undefined);
    assert.equal(label.match(answer("dog", { localModel: undefined })), undefined, "a peer's or the cloud's answer");
  });

  it("applies to the models named (the local name or the routed one)", () => {
    const r = new AnswerRule(rule({ models: ["camera"], when: { in: ["dog"] } }), redactor);
    assert.equal(r.match(answer("dog")), undefined);
    assert.ok(r.match(answer("dog", { localModel: "camera" })));
    assert.ok(r.match(answer("dog", { model: "camera:latest" })));
  });

  it("carries the matched and included fields only, redacted and cut to size", () => {
    const text = JSON.stringify({
      label: "suspicious",
      note: "call +44 20 7946 0958 or mail eve@example.org",
      card: 4111111111111111,
      long: "x".repeat(50),
      boxes: [{ owner: "eve@example.org" }],
      big: { list: "y".repeat(100) },
      secret: "not included",
    });
    const event = new AnswerRule(rule({ type: "cam.sus", source: "gate", when: { field: "label", equals: "suspicious" }, include: ["note", "card", "long", "boxes", "big", "absent"], max_value_chars: 40 }), redactor, "gw-1").match(
      answer(text),
      new Date("2026-01-02T03:04:05Z"),
    );
    assert.deepEqual(event, {
      type: "cam.sus",
      source: "gate",
      rule: "r",
      model: "demo",
      request_id: "req-1",
      at: "2026-01-02T03:04:05.000Z",
      gateway: "gw-1",
      data: { label: "suspicious", note: "call [PHONE_1] or mail [EMAIL_1]", card: "[CARD_1]", long: `${"x".repeat(40)}…`, boxes: [{ owner: "[EMAIL_1]" }] },
      omitted: ["big"],
    });
    assert.ok(!JSON.stringify(event).includes("eve@example.org"));
    assert.ok(!JSON.stringify(event).includes("not included"));
  });
});

describe("AnswerEvents", () => {
  it("counts a refused append per rule and never throws to the answer's path", async () => {
    const appended: Array<{ body: unknown; key: string | undefined }> = [];
    let refuse = true;
    const target = {
      append: async (body: unknown, key?: string) => {
        if (refuse) throw new Error("the event outbox is full");
        appended.push({ body, key });
        return { seq: appended.length, id: key ?? "", receivedAt: "", body };
      },
    };
    const events = new GatewayEvents();
    const emitter = new AnswerEvents([rule({ name: "dog", when: { in: ["dog"] } }), rule({ name: "cat", when: { in: ["cat"] } })], target, new Redactor());
    emitter.attach(events);
    events.emit("request:answer", answer("dog"));
    await emitter.detach();
    assert.deepEqual(emitter.stats(), [
      { rule: "dog", emitted: 0, failed: 1 },
      { rule: "cat", emitted: 0, failed: 0 },
    ]);
    refuse = false;
    emitter.attach(events);
    events.emit("request:answer", answer("dog", { requestId: "req-2" }));
    events.emit("request:answer", answer("bird", { requestId: "req-3" }));
    await emitter.detach();
    assert.deepEqual(emitter.stats()[0], { rule: "dog", emitted: 1, failed: 1 });
    assert.deepEqual(appended.map((a) => a.key), ["answer-req-2-dog"]);
  });
});
