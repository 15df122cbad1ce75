import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ChatTemplate } from "../../src/engine/chat-template.js";
import { DEFAULT_TEMPLATE_LIMITS } from "../../src/engine/bounded-template.js";
import type { TemplateLimits } from "../../src/engine/types.js";
import { isEdgeError } from "../../src/errors.js";
import { BOOM_TEMPLATE, HOSTILE_TEMPLATE } from "./templated-model.js";


const open = (source: string, limits?: TemplateLimits) => ChatTemplate.open({ "tokenizer.chat_template": source }, "m.gguf", limits);

function limitRefusal(limit: string, pattern: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(isEdgeError(e), String(e));
    assert.equal(e.code, "unsupported_model");
    assert.equal(e.details?.limit, limit);
    assert.match(e.message, pattern);
    return true;
  };
}

/** Peak growth of this process's resident memory while `work` runs, in MiB. */
async function peakRssGrowthMb(work: () => Promise<unknown>): Promise<number> {
  const before = process.memoryUsage.rss();
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return (Math.max(peak, process.memoryUsage.rss()) - before) / 2 ** 20;
}

describe("chat template limits", () => {
  it("refuse the looping template at load, naming the limit, with memory bounded", async () => {
    let refusal: unknown;
    const growth = await peakRssGrowthMb(() => open(HOSTILE_TEMPLATE).catch((e: unknown) => (refusal = e)));
    assert.ok(isEdgeError(refusal), `the template was accepted: ${String(refusal)}`);
    limitRefusal(
      String(refusal.details?.limit),
      /^m\.gguf: its chat template (did not finish rendering within 2000 ms \(engine\.chat_template\.render_timeout_ms\)|needed more than 128 MiB of memory to render \(engine\.chat_template\.memory_mb\)) on a probe render of a short chat; the model is not loaded$/,
    )(refusal);
    // The renderer's heap is capped at 128 MiB; without the cap this template grows past 3.5 GB.
    assert.ok(growth < 400, `resident memory grew by ${growth.toFixed(0)} MiB`);
  });

  it("stop a render at its deadline, and one that writes too much", async () => {
    const spin = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    await assert.rejects(open(spin, { ...DEFAULT_TEMPLATE_LIMITS, renderTimeoutMs: 200 }), limitRefusal("render_timeout_ms", /did not finish rendering within 200 ms/));
    await assert.rejects(
      open("{% for i in range(5000) %}x{% endfor %}", { ...DEFAULT_TEMPLATE_LIMITS, maxOutputBytes: 4096 }),
      limitRefusal("max_output_bytes", /rendered more than 4096 bytes \(engine\.chat_template\.max_output_bytes\)/),
    );
  });

  it("refuse a template too long to parse at once, and one whose parse outlasts the render limit", async () => {
    // 1.4 MB of expressions: about a second and a half to parse here, far past the 100 ms limit below.
    const slow = "{{ a }}".repeat(200_000);
    const started = performance.now();
    await assert.rejects(open(slow), limitRefusal("max_source_bytes", /^m\.gguf: its chat template is longer than 262144 bytes \(engine\.chat_template\.max_source_bytes\): 1400000 bytes; the model is not loaded$/));
    assert.ok(performance.now() - started < 100, "refused before anything parses it");
    await assert.rejects(
      open(slow, { ...DEFAULT_TEMPLATE_LIMITS, maxSourceBytes: 4 * 2 ** 20, renderTimeoutMs: 100 }),
      limitRefusal("render_timeout_ms", /its chat template did not finish parsing within 100 ms \(engine\.chat_template\.render_timeout_ms\) on a probe render/),
    );
  });

  it("fail only the request whose messages make the template go past a limit; the next one renders", async () => {
    const template = await open(BOOM_TEMPLATE, {
      ...DEFAULT_TEMPLATE_LIMITS,
      renderTimeoutMs: 500,
      memoryMb: 32,
    });
    try {
      // Time or memory, whichever this machine reaches first.
      await assert.rejects(template.render([{ role: "user", content: "boom" }]), (e: unknown) => {
        assert.ok(isEdgeError(e) && e.code === "unsupported_model", String(e));
        assert.ok(["render_timeout_ms", "memory_mb"].includes(String(e.details?.limit)), String(e.details?.limit));
        assert.match(e.message, /^m\.gguf: the chat template (did not finish rendering within 500 ms|needed more than 32 MiB).* for this request's messages; the request was not run$/);
        return true;
      });
      // Two renders at once: a slow one does not hold up the other.
      const slow = template.render([{ role: "user", content: "boom" }]).catch((e: unknown) => e);
      const fine = await template.render([{ role: "user", content: "hello" }]);
      assert.ok(isEdgeError(await slow));
      assert.equal(fine.text, "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n");
    } finally {
      await template.dispose();
    }
  });

  it("keep the plain fallback for a template that cannot be parsed or raises an error", async () => {
    const broken = await open("{% if %}");
    assert.equal(broken.isModelTemplate, false);
    const raising = await open("{{ raise_exception('no') }}");
    assert.equal(raising.isModelTemplate, true);
    const prompt = await raising.render([{ role: "user", content: "hi" }]);
    assert.equal(prompt.toolSyntax, "generic");
    assert.ok(prompt.stops.length > 0);
    await Promise.all([broken.dispose(), raising.dispose()]);
  });
});
