import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { tempHome } from "../helpers.js";
import { get, sampleValue, startOpsGateway, type OpsFixture } from "./ops-gateway-fixture.js";
import { storeDemoVariants } from "./demo-variants.js";
import { FakeProc } from "./fake-proc.js";

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("policies act on a real gateway", () => {
  const { home, cleanup } = tempHome();
  let fixture: OpsFixture;
  let memoryUsed = 50;
  before(async () => {
    // A Q8_0 model and its Q4_0 variant in the store, linked by variant_of.
    await storeDemoVariants(home);
    fixture = await startOpsGateway({
      home,
      models: [{ name: "bigram", ref: "bigram:q8_0", parallel: 4, contextSize: 512, threads: { decode: 1, prompt: 1 } }],
      config: {
        metrics: { sample_interval_s: 0.2 },
        policies: {
          interval_s: 0.1,
          rules: [
            { name: "memory_high", metric: "memory_used_percent", threshold: 90, for_s: 0.3, hysteresis: 5, cooldown_s: 600, actions: ["swap_lower_precision", "alert"] },
          ],
        },
      },
      // The injected reading: this machine's real memory is far from 90% used.
      prepare: (ops) => ops.signals.set("memory_used_percent", () => memoryUsed),
    });
  });
  after(async () => {
    await fixture?.close();
    cleanup();
  });

  it("a forced memory-pressure reading swaps Q8_0 → Q4_0 while 4 clients stream, with zero failed requests", async () => {
    const openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const before = fixture.gateway.pool("bigram").describe();
    assert.equal(before.summary?.predominantType, "Q8_0");
    let stop = false;
    let failures = 0;
    let completed = 0;
    const errors: string[] = [];
    let swapDone = false;
    const servedAfterSwap = new Set<string>();
    const onAdmitted = (e: { runnerId: string }) => {
      if (swapDone) servedAfterSwap.add(e.runnerId);
    };
    fixture.gateway.events.on("request:admitted", onAdmitted);
    const client = async () => {
      while (!stop) {
        try {
          const stream = await openai.completions.create({ model: "bigram", prompt: "the cat", max_tokens: 24, stream: true });
          for await (const _ of stream);
          completed++;
        } catch (error) {
          failures++;
          errors.push((error as Error).message);
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    await waitFor("traffic", () => completed >= 8);
    assert.equal(fixture.ops.policies.decisions().length, 0, "nothing happens at 50% used");

    memoryUsed = 95;
    await waitFor("the policy to act", () => fixture.ops.policies.decisions().some((d) => d.outcome === "executed"));
    await fixture.ops.policies.settled();
    swapDone = true;
    const atSwap = completed;
    await waitFor("the old runner to drain and stop", () => fixture.gateway.pool("bigram").describe().runners.every((r) => r.ref === "bigram:q4_0"));
    await waitFor("traffic after the swap", () => completed >= atSwap + 12);
    stop = true;
    await Promise.all(clients);
    fixture.gateway.events.off("request:admitted", onAdmitted);

    assert.equal(failures, 0, errors.join("\n"));
    const decision = fixture.ops.policies.decisions().find((d) => d.outcome === "executed")!;
    assert.equal(decision.rule, "memory_high");
    assert.equal(decision.action, "swap_lower_precision");
    assert.equal(decision.detail, "swapped bigram from Q8_0 to Q4_0 (bigram:q4_0), overlap");
    const now = fixture.gateway.pool("bigram").describe();
    assert.equal(now.ref, "bigram:q4_0");
    assert.equal(now.summary?.predominantType, "Q4_0");
    assert.equal(now.runners.length, 1);
    assert.ok(servedAfterSwap.size > 0);
    assert.deepEqual([...servedAfterSwap], [now.runners[0]!.id], "new requests are served by the Q4_0 runner only");
    assert.ok(!servedAfterSwap.has(before.runners[0]!.id));

    const text = (await get(`${fixture.url}/metrics`)).text;
    assert.equal(sampleValue(text, 'edgelm_model_info{model="bigram",ref="bigram:q4_0",quantization="Q4_0",state="ready",backend="node-llama-cpp",digest="",version=""}'), 1);
    assert.equal(sampleValue(text, 'edgelm_policy_decisions_total{rule="memory_high",action="swap_lower_precision",outcome="executed"}'), 1);
    assert.equal(sampleValue(text, 'edgelm_policy_rule_firing{rule="memory_high"}'), 1);

    // Still above 90%: the cooldown holds further action; then the reading recovers and the rule clears.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(fixture.ops.policies.decisions().filter((d) => d.outcome === "executed").length, 1);
    memoryUsed = 80;
    await waitFor("the rule to clear", () => fixture.ops.policies.status().rules[0]!.state === "ok");
    const admin = JSON.parse((await get(`${fixture.url}/admin/policies`)).text) as { rules: Array<{ state: string; lastAction: { detail: string } }> };
    assert.equal(admin.rules[0]!.state, "ok");
    assert.equal(admin.rules[0]!.lastAction.detail, decision.detail);
  });
});

describe("a swap when memory is short", () => {
  const { home, cleanup } = tempHome();
  const proc = new FakeProc();
  let fixture: OpsFixture;
  before(async () => {
    await storeDemoVariants(home);
    // /proc/meminfo of a box with 1 GB, 96% used: the variant cannot load beside the old runner and leave 10% free.
    proc.stat(1000, 500, 8500).meminfo(1_000_000, 40_000);
    fixture = await startOpsGateway({
      home,
      models: [{ name: "bigram", ref: "bigram:q8_0", parallel: 2, contextSize: 512, threads: { decode: 1, prompt: 1 } }],
      config: {
        metrics: { sample_interval_s: 0.1 },
        policies: {
          interval_s: 0.1,
          rules: [{ name: "memory_high", metric: "memory_used_percent", threshold: 90, for_s: 0.2, cooldown_s: 600, actions: ["swap_lower_precision"] }],
        },
      },
      ops: { procRoot: proc.root },
    });
  });
  after(async () => {
    await fixture?.close();
    proc.remove();
    cleanup();
  });

  it("drains the old runner before loading the variant, and queued requests still succeed", async () => {
    const openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
    let stop = false;
    let failures = 0;
    let completed = 0;
    const clients = Array.from({ length: 2 }, async () => {
      while (!stop) {
        try {
          await openai.completions.create({ model: "bigram", prompt: "the cat", max_tokens: 16 });
          completed++;
        } catch {
          failures++;
        }
      }
    });
    await waitFor("the swap", () => fixture.gateway.pool("bigram").describe().runners.every((r) => r.ref === "bigram:q4_0"));
    const atSwap = completed;
    await waitFor("traffic after the swap", () => completed >= atSwap + 4);
    stop = true;
    await Promise.all(clients);
    assert.equal(failures, 0);
    const decision = fixture.ops.policies.decisions().find((d) => d.outcome === "executed");
    assert.equal(decision?.detail, "swapped bigram from Q8_0 to Q4_0 (bigram:q4_0), drain-first");
    assert.equal(decision?.value, 96, "the reading came from /proc/meminfo");
  });
});
