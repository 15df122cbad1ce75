import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { policiesSection, type PoliciesConfig } from "../../src/config/sections/policies.js";
import { AlertDispatcher } from "../../src/ops/alert-dispatcher.js";
import { MetricsRegistry } from "../../src/ops/metrics-registry.js";
import { PolicyEngine } from "../../src/ops/policy-engine.js";
import { SignalBoard } from "../../src/ops/signal-board.js";
import { WebhookSink } from "../../src/ops/webhook-sink.js";
import { WebhookReceiver } from "./webhook-receiver.js";

function policies(input: Record<string, unknown>): PoliciesConfig {
  return policiesSection.parse(input);
}

describe("policy engine", () => {
  let hook: WebhookReceiver;
  before(async () => {
    hook = await WebhookReceiver.start();
  });
  after(() => hook.close());

  it("a signal oscillating around the threshold acts at most once per cooldown", async () => {
    const config = policies({
      rules: [{ name: "pressure", metric: "memory_pressure_percent", threshold: 50, for_s: 0, hysteresis: 0, cooldown_s: 60, actions: ["alert"] }],
    });
    let clock = 0;
    let reading = 0;
    const signals = new SignalBoard().set("memory_pressure_percent", () => reading);
    const alerts = new AlertDispatcher([new WebhookSink(hook.url)]);
    const metrics = new MetricsRegistry({ processMetrics: false });
    const engine = new PolicyEngine({ config, signals, alerts, metrics, now: () => clock });
    const start = hook.bodies.length;
    // 300 s of a reading flipping 49 ↔ 51 every 5 s evaluation.
    for (let step = 0; step < 60; step++) {
      clock = step * 5000;
      reading = step % 2 === 0 ? 51 : 49;
      await engine.tick();
      await engine.settled();
    }
    const executed = engine.decisions().filter((d) => d.outcome === "executed");
    assert.equal(executed.length, 5, "300 s / 60 s cooldown = 5 actions, not 30");
    for (let i = 1; i < executed.length; i++) {
      assert.ok(Date.parse(executed[i]!.at) - Date.parse(executed[i - 1]!.at) >= 60_000, "no two actions within a cooldown");
    }
    assert.ok(engine.decisions().some((d) => d.outcome === "cooldown"), "suppressed firings are recorded");
    await hook.waitFor(start + 10);
    const firings = hook.bodies.slice(start).filter((b) => (b as { status: string }).status === "firing");
    assert.equal(firings.length, 5, "the receiver sees one firing per cooldown");
    const text = await metrics.render();
    assert.match(text, /edgelm_policy_decisions_total\{rule="pressure",action="alert",outcome="executed"\} 5/);
    await alerts.close();
  });

  it("hysteresis keeps a hovering signal firing once instead of flapping", async () => {
    const config = policies({
      rules: [{ name: "cpu", metric: "cpu_percent", threshold: 85, for_s: 10, hysteresis: 10, cooldown_s: 600, actions: ["alert"] }],
    });
    let clock = 0;
    let reading = 0;
    const engine = new PolicyEngine({
      config,
      signals: new SignalBoard().set("cpu_percent", () => reading),
      alerts: new AlertDispatcher([]),
      now: () => clock,
    });
    const readings = [86, 90, 88, 84, 87, 86, 83, 88, 80, 86, 89, 74];
    for (const [i, r] of readings.entries()) {
      clock = i * 5000;
      reading = r;
      await engine.tick();
    }
    await engine.settled();
    const events = engine.decisions().map((d) => `${d.event}:${d.outcome}`);
    // 86@0 pending, 90@5, 88@10 → fires (held 10 s); stays firing through 80; clears at 74 (< 85 - 10).
    assert.deepEqual(events, ["fired:executed", "cleared:cleared", "cleared:reverted"]);
    const status = engine.status();
    assert.equal(status.rules[0]!.state, "ok");
    assert.equal(status.rules[0]!.lastAction?.action, "alert");
  });

  it("dry run says what it would do and does nothing; a rule with nothing applicable says why", async () => {
    const config = policies({
      dry_run: true,
      rules: [
        { name: "loud", metric: "power_watts", threshold: 5, for_s: 0, actions: ["alert"] },
        { name: "stuck", metric: "power_watts", threshold: 5, for_s: 0, actions: ["add_runner", "shift_to_peer", "swap_lower_precision"] },
        { name: "blind", metric: "ttft_p95_ms", threshold: 200, for_s: 0, actions: ["alert"] },
      ],
    });
    const start = hook.bodies.length;
    const alerts = new AlertDispatcher([new WebhookSink(hook.url)]);
    const engine = new PolicyEngine({ config, signals: new SignalBoard().set("power_watts", () => 7.5), alerts });
    await engine.tick();
    await engine.settled();
    const [loud, stuck] = engine.decisions();
    assert.equal(loud!.outcome, "dry_run");
    assert.match(loud!.detail, /^would fire alert EdgelmLoud: power_watts > 5 \(now 7\.5\)/);
    assert.equal(alerts.active().length, 0, "a dry run fires nothing");
    assert.equal(stuck!.outcome, "no_action");
    assert.deepEqual(stuck!.skipped, [
      "add_runner: no gateway to act on",
      "shift_to_peer: no router configured",
      "swap_lower_precision: no gateway to act on",
    ]);
    const blind = engine.status().rules[2]!;
    assert.deepEqual([blind.state, blind.value], ["ok", null], "no TTFT reading: the rule waits, it does not fire");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(hook.bodies.length, start);
    await alerts.close();
  });
});
