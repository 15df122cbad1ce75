import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseKeepAlive } from "../../src/scheduler/keep-alive.js";
import { parseModelfile } from "../../src/server/modelfile.js";
import { parseTemplate, renderChatTemplate, renderTemplate } from "../../src/server/ollama-template.js";
import { isEdgeError } from "../../src/errors.js";

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    assert.ok(isEdgeError(error), String(error));
    return { code: error.code, message: error.message };
  }
  assert.fail("expected a refusal");
}

describe("Modelfile subset", () => {
  it("reads FROM, SYSTEM, TEMPLATE (triple-quoted, several lines) and typed PARAMETERs", () => {
    const parsed = parseModelfile(
      [
        "# a comment",
        "FROM stories:latest",
        "parameter temperature 0.7",
        "PARAMETER num_predict 64",
        'PARAMETER stop "<|end|>"',
        "PARAMETER stop User:",
        'SYSTEM """You are',
        'a storyteller."""',
        'TEMPLATE "{{ .Prompt }}"',
        "LICENSE MIT",
        "",
      ].join("\n"),
    );
    assert.deepEqual(parsed, {
      from: "stories:latest",
      system: "You are\na storyteller.",
      template: "{{ .Prompt }}",
      parameters: { temperature: 0.7, num_predict: 64, stop: ["<|end|>", "User:"] },
      adapters: [],
    });
  });

  it("reads ADAPTER lines naming uploaded blobs (@sha256:<hex>), in order", () => {
    const a = "a".repeat(64);
    const b = "b".repeat(64);
    assert.deepEqual(parseModelfile(`FROM stories\nADAPTER @sha256:${a}\nADAPTER @sha256-${b}\n`).adapters, [a, b]);
  });

  it("refuses ADAPTER naming a client path, MESSAGE and unknown instructions, naming the line", () => {
    assert.deepEqual(refusal(() => parseModelfile("FROM x\nADAPTER ./lora.gguf")).code, "unsupported");
    assert.match(refusal(() => parseModelfile("FROM x\nADAPTER ./lora.gguf")).message, /line 2: ADAPTER \.\/lora\.gguf names a file on the client, which the server cannot read; upload it with POST \/api\/blobs/);
    assert.match(refusal(() => parseModelfile("FROM x\n\nMESSAGE user hi")).message, /line 3: MESSAGE/);
    assert.match(refusal(() => parseModelfile("FRM x")).message, /line 1: unknown instruction FRM/);
    assert.match(refusal(() => parseModelfile('SYSTEM """never closed')).message, /not closed/);
    assert.match(refusal(() => parseModelfile("PARAMETER temperature")).message, /needs a name and a value/);
  });
});

describe("Ollama TEMPLATE subset", () => {
  it("renders fields, if/else/end and trim markers", () => {
    const nodes = parseTemplate("{{- if .System }}<s>{{ .System }}</s>\n{{- else }}none {{ end -}}\n  [{{ .Prompt }}]");
    assert.equal(renderTemplate(nodes, { System: "sys", Prompt: "hi" }), "<s>sys</s>[hi]");
    assert.equal(renderTemplate(nodes, { Prompt: "hi" }), "none [hi]");
  });

  it("renders a conversation one pass per user turn, ending where the reply begins", () => {
    const template = "{{ if .System }}S:{{ .System }}\n{{ end }}U:{{ .Prompt }}\nA:{{ .Response }}\n";
    const text = renderChatTemplate(
      template,
      [
        { role: "system", content: "be brief" },
        { role: "user", content: "one" },
        { role: "assistant", content: "1" },
        { role: "user", content: "two" },
      ],
      "default system",
    );
    assert.equal(text, "S:be brief\nU:one\nA:1\nU:two\nA:");
    assert.equal(renderChatTemplate(template, [{ role: "user", content: "x" }], "default"), "S:default\nU:x\nA:");
  });

  it("refuses constructs outside the subset", () => {
    assert.match(refusal(() => parseTemplate("{{ range .Messages }}{{ .Content }}{{ end }}")).message, /range .Messages/);
    assert.match(refusal(() => parseTemplate("{{ .Tools }}")).message, /\.Tools/);
    assert.match(refusal(() => parseTemplate("{{ if .System }}x")).message, /without its \{\{ end \}\}/);
    assert.match(refusal(() => parseTemplate("x{{ end }}")).message, /without an \{\{ if \}\}/);
  });
});

describe("keep_alive values", () => {
  it("reads seconds, durations and negative = forever", () => {
    assert.equal(parseKeepAlive(undefined), undefined);
    assert.equal(parseKeepAlive(0), 0);
    assert.equal(parseKeepAlive(30), 30_000);
    assert.equal(parseKeepAlive(-1), null);
    assert.equal(parseKeepAlive("-1"), null);
    assert.equal(parseKeepAlive("-5m"), null);
    assert.equal(parseKeepAlive("5m"), 300_000);
    assert.equal(parseKeepAlive("1h30m"), 5_400_000);
    assert.equal(parseKeepAlive("250ms"), 250);
    assert.equal(parseKeepAlive("0"), 0);
    assert.ok(Number.isNaN(parseKeepAlive("soon")));
    assert.ok(Number.isNaN(parseKeepAlive("5 minutes")));
  });
});
