import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AlertDispatcher } from "../../src/ops/alert-dispatcher.js";
import { AlertmanagerSink } from "../../src/ops/alertmanager-sink.js";
import { MetricsRegistry } from "../../src/ops/metrics-registry.js";
import { WebhookSink } from "../../src/ops/webhook-sink.js";
import { freePort } from "../../src/free-port.js";
import { AlertmanagerProcess } from "./alertmanager-process.js";
import { startOpsGateway } from "./ops-gateway-fixture.js";
import { WebhookReceiver } from "./webhook-receiver.js";

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("alert delivery", () => {
  let am: AlertmanagerProcess;
  let hook: WebhookReceiver;
  before(async () => {
    [am, hook] = await Promise.all([AlertmanagerProcess.start(), WebhookReceiver.start()]);
  });
  after(async () => {
    await Promise.all([am?.stop(), hook?.close()]);
  });

  it("fires an alert into a real Alertmanager and a webhook, reads it back, then resolves it", async () => {
    const metrics = new MetricsRegistry({ processMetrics: false });
    const alerts = new AlertDispatcher(
      [new AlertmanagerSink(am.url, 5000, "http://127.0.0.1:11435/admin/policies"), new WebhookSink(hook.url, { authorization: "Bearer hook-key" })],
      { metrics, labels: { instance: "edge-box-1" } },
    );
    try {
      const fresh = await alerts.fire({ name: "EdgelmMemoryHigh", severity: "critical", summary: "memory_used_percent > 90 (now 95)", labels: { rule: "memory_high" }, value: 95 });
      assert.equal(fresh, true);
      assert.equal(await alerts.fire({ name: "EdgelmMemoryHigh", summary: "memory_used_percent > 90 (now 96)", labels: { rule: "memory_high" }, value: 96 }), false, "already firing");

      const held = await until("the alert in Alertmanager", async () => (await am.alerts()).find((a) => a.labels.alertname === "EdgelmMemoryHigh"));
      assert.equal(held.status.state, "active");
      assert.deepEqual(
        { severity: held.labels.severity, rule: held.labels.rule, instance: held.labels.instance },
        { severity: "critical", rule: "memory_high", instance: "edge-box-1" },
      );
      assert.equal(held.annotations.summary, "memory_used_percent > 90 (now 95)");
      assert.ok(Date.parse(held.endsAt) > Date.now(), "a firing alert ends in the future unless re-sent");

      await hook.waitFor(1);
      const firing = hook.bodies[0] as { version: number; status: string; alert: { name: string; labels: Record<string, string>; value: number } };
      assert.equal(firing.status, "firing");
      assert.equal(firing.alert.name, "EdgelmMemoryHigh");
      assert.equal(firing.alert.value, 95);
      assert.equal(hook.headers[0]!.authorization, "Bearer hook-key");

      assert.equal(await alerts.resolve("EdgelmMemoryHigh", { rule: "memory_high" }), true);
      await until("Alertmanager to drop the resolved alert", async () =>
        (await am.alerts()).some((a) => a.labels.alertname === "EdgelmMemoryHigh") ? undefined : true,
      );
      await hook.waitFor(2);
      const resolved = hook.bodies[1] as { status: string; alert: { endsAt: string } };
      assert.equal(resolved.status, "resolved");
      assert.ok(Date.parse(resolved.alert.endsAt) <= Date.now());
      assert.equal(await alerts.resolve("EdgelmMemoryHigh", { rule: "memory_high" }), false, "nothing left to resolve");

      const text = await metrics.render();
      assert.match(text, /edgelm_alert_notifications_total\{sink="alertmanager http:\/\/127\.0\.0\.1:\d+",status="resolved",result="ok"\} 1/);
    } finally {
      await alerts.close();
    }
  });

  it("keeps firing when a sink is down, and retries an undelivered resolution", async () => {
    const deadPort = await freePort();
    hook.status = 503;
    const metrics = new MetricsRegistry({ processMetrics: false });
    const alerts = new AlertDispatcher([new WebhookSink(hook.url, {}, 1000), new AlertmanagerSink(`http://127.0.0.1:${deadPort}`, 1000)], { metrics });
    try {
      await alerts.fire({ name: "EdgelmTtftSlow", summary: "slow", labels: { rule: "ttft_slow" } });
      assert.equal(alerts.active().length, 1);
      await alerts.resolve("EdgelmTtftSlow", { rule: "ttft_slow" });
      const before = hook.bodies.length;
      hook.status = 200;
      await alerts.resend();
      await hook.waitFor(before + 1);
      const retried = hook.bodies[before] as { status: string; alert: { name: string } };
      assert.deepEqual([retried.status, retried.alert.name], ["resolved", "EdgelmTtftSlow"]);
      const text = await metrics.render();
      assert.match(text, /status="firing",result="error"\} 1/);
    } finally {
      await alerts.close();
    }
  });
  it("a policy on a running gateway fires into Alertmanager and resolves when the condition clears", async () => {
    let ttft = 450;
    const fixture = await startOpsGateway({
      models: [{ name: "demo", ref: "demo", parallel: 1, threads: { decode: 1, prompt: 1 } }],
      config: {
        policies: {
          interval_s: 0.1,
          alerts: { alertmanager: [am.url] },
          rules: [{ name: "ttft_slow", metric: "ttft_p95_ms", threshold: 200, for_s: 0.2, hysteresis: 20, cooldown_s: 60, actions: ["alert"], severity: "warning" }],
        },
      },
      prepare: (ops) => ops.signals.set("ttft_p95_ms", () => ttft),
    });
    try {
      const held = await until("the policy alert in Alertmanager", async () => (await am.alerts()).find((a) => a.labels.alertname === "EdgelmTtftSlow"));
      assert.deepEqual(
        { rule: held.labels.rule, metric: held.labels.metric, source: held.labels.source, severity: held.labels.severity },
        { rule: "ttft_slow", metric: "ttft_p95_ms", source: "edgelm-policy", severity: "warning" },
      );
      assert.equal(held.annotations.summary, "ttft_p95_ms > 200 for 0.2s (now 450)");
      assert.equal(held.annotations.value, "450");
      ttft = 150;
      await until("Alertmanager to see it resolved", async () => ((await am.alerts()).some((a) => a.labels.alertname === "EdgelmTtftSlow") ? undefined : true));
      const outcomes = fixture.ops.policies.decisions().map((d) => `${d.outcome}${d.action ? ` ${d.action}` : ""}`);
      assert.deepEqual(outcomes, ["executed alert", "cleared", "reverted alert"]);
    } finally {
      await fixture.close();
    }
  });
});
