import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { MetricsRegistry } from "../../src/ops/metrics-registry.js";
import { ResourceMetrics } from "../../src/ops/resource-metrics.js";
import { ResourceSampler, type ResourceSnapshot } from "../../src/ops/resource-sampler.js";
import { SysfsPowerMeter } from "../../src/ops/sysfs-power-meter.js";
import { FakeProc } from "./fake-proc.js";
import { waitFor } from "../server/gateway-fixture.js";
import { get, sampleValue, startOpsGateway, type OpsFixture } from "./ops-gateway-fixture.js";

/**
 * Resolves with the first sample taken after this call that `accept`s (its
 * listeners, the metrics among them, have run); rejects after `timeoutMs`.
 */
function nextSample(sampler: ResourceSampler, accept: (snapshot: ResourceSnapshot) => boolean = () => true, timeoutMs = 10_000): Promise<ResourceSnapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching resource sample within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = sampler.onSample((snapshot) => {
      if (!accept(snapshot)) return;
      clearTimeout(timer);
      off();
      resolve(snapshot);
    });
  });
}

/** A fake /sys with one discharging battery drawing `watts`. */
function batterySysfs(sysfs: FakeProc, watts: number): void {
  sysfs
    .write("class/power_supply/BAT0/type", "Battery\n")
    .write("class/power_supply/BAT0/status", "Discharging\n")
    .write("class/power_supply/BAT0/power_now", `${Math.round(watts * 1e6)}\n`);
}

describe("power from sysfs", () => {
  const sysfs = new FakeProc();
  after(() => sysfs.remove());

  it("reads a RAPL energy counter as mean watts between samples, with the source labelled", async () => {
    sysfs.write("class/powercap/intel-rapl:0/name", "package-0\n").write("class/powercap/intel-rapl:0/max_energy_range_uj", "262143328850\n");
    sysfs.write("class/powercap/intel-rapl:0/energy_uj", "1000000\n");
    const meter = SysfsPowerMeter.forMachine(sysfs.root)!;
    assert.deepEqual([meter.source, meter.kind], ["rapl package-0", "rapl"]);
    const registry = new MetricsRegistry({ processMetrics: false });
    const metrics = new ResourceMetrics(registry, () => 1000, 60);
    const sampler = new ResourceSampler({ power: meter });
    const started = performance.now();
    await new Promise((r) => setTimeout(r, 200));
    sysfs.write("class/powercap/intel-rapl:0/energy_uj", "3000000\n"); // 2 J
    const snapshot = sampler.sample();
    const elapsed = (performance.now() - started) / 1000;
    metrics.update(snapshot);
    const watts = snapshot.power!.watts;
    assert.ok(watts <= 2 / 0.2 && watts >= 2 / (elapsed + 0.05), `watts ${watts}`);
    const text = await registry.render();
    assert.match(text, /^edgelm_power_watts\{source="rapl package-0",kind="rapl"\} \d/m);
    meter.close();
  });

  it("has no power meter on a machine without a sensor", () => {
    const empty = new FakeProc();
    assert.equal(SysfsPowerMeter.forMachine(empty.root), undefined);
    empty.remove();
  });
});

describe("the power policy on a real gateway", () => {
  const sysfs = new FakeProc();
  let fixture: OpsFixture;
  before(async () => {
    batterySysfs(sysfs, 6.5);
    fixture = await startOpsGateway({
      models: [{ name: "demo", ref: "demo", parallel: 2, threads: { decode: 1, prompt: 1 } }],
      config: {
        sysfs_root: sysfs.root,
        metrics: { sample_interval_s: 0.2 },
        policies: {
          interval_s: 0.2,
          rules: [{ name: "power_high", metric: "power_watts", threshold: 5, for_s: 0.5, hysteresis: 0.5, cooldown_s: 600, actions: ["lower_parallelism", "alert"] }],
        },
      },
    });
  });
  after(async () => {
    await fixture?.close();
    sysfs.remove();
  });

  it("exposes watts and joules per token, and lowers parallelism above 5 W", async () => {
    const openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
    await openai.completions.create({ model: "demo", prompt: "the cat", max_tokens: 16 });
    const deadline = Date.now() + 30_000;
    while (!fixture.ops.policies.decisions().some((d) => d.outcome === "executed") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await fixture.ops.policies.settled();
    const decision = fixture.ops.policies.decisions().find((d) => d.outcome === "executed");
    assert.equal(decision?.action, "lower_parallelism");
    assert.equal(decision?.detail, "demo now decodes 1 sequences at a time (was 2)");
    assert.equal(fixture.gateway.pool("demo").describe().parallel, 1);
    // Still serving after the swap.
    const after = await openai.completions.create({ model: "demo", prompt: "the dog", max_tokens: 4 });
    assert.equal(after.choices.length, 1);

    const text = (await get(`${fixture.url}/metrics`)).text;
    const watts = sampleValue(text, 'edgelm_power_watts{source="battery BAT0",kind="battery"}');
    assert.ok(watts !== undefined && Math.abs(watts - 6.5) < 1e-6, `watts ${watts}`);
    const perToken = sampleValue(text, 'edgelm_energy_per_token_joules{source="battery BAT0",kind="battery"}');
    assert.ok(perToken !== undefined && perToken > 0, "joules per token once power and tokens are known");
    assert.ok((sampleValue(text, 'edgelm_energy_joules_total{source="battery BAT0",kind="battery"}') ?? 0) > 0);

    // On AC power the battery measures charging, not this machine: the reading (and the metric) goes away.
    sysfs.write("class/power_supply/BAT0/status", "Charging\n");
    await nextSample(fixture.ops.sampler, (snapshot) => snapshot.power === undefined);
    const charging = (await get(`${fixture.url}/metrics`)).text;
    assert.doesNotMatch(charging, /^edgelm_power_watts\{/m);
  });
});

describe("flapping on a real gateway", () => {
  let fixture: OpsFixture;
  let reads = 0;
  before(async () => {
    fixture = await startOpsGateway({
      models: [{ name: "demo", ref: "demo", parallel: 4, threads: { decode: 1, prompt: 1 } }],
      config: {
        policies: {
          interval_s: 0.1,
          rules: [{ name: "power_high", metric: "power_watts", threshold: 5, for_s: 0, hysteresis: 0, cooldown_s: 3, actions: ["lower_parallelism"] }],
        },
      },
      // A reading flipping around the threshold at every evaluation: 5.2, 4.8, 5.2, ...
      prepare: (ops) => ops.signals.set("power_watts", () => (reads++ % 2 === 0 ? 5.2 : 4.8)),
    });
  });
  after(async () => fixture?.close());

  it("acts at most once per cooldown while the signal oscillates around the threshold", async () => {
    const started = Date.now();
    // At least 4.5 s, and until five firings met the cooldown: the first action (a swap) takes longer on a busy machine.
    await new Promise((r) => setTimeout(r, 4500));
    const cooldowns = () => fixture.ops.policies.decisions().filter((d) => d.outcome === "cooldown").length;
    await waitFor(() => cooldowns() >= 5, 20_000, "five firings during the cooldown");
    await fixture.ops.policies.stop();
    const seconds = (Date.now() - started) / 1000;
    const decisions = fixture.ops.policies.decisions();
    const executed = decisions.filter((d) => d.outcome === "executed");
    assert.ok(reads > 20, `evaluated ${reads} times`);
    assert.ok(executed.length >= 1 && executed.length <= Math.ceil(seconds / 3), `${executed.length} actions in ${seconds} s`);
    for (let i = 1; i < executed.length; i++) assert.ok(Date.parse(executed[i]!.at) - Date.parse(executed[i - 1]!.at) >= 3000);
    assert.ok(decisions.filter((d) => d.outcome === "cooldown").length >= 5, "the flapping firings were suppressed, not acted on");
    assert.equal(fixture.gateway.pool("demo").describe().parallel, 4 / 2 ** executed.length);
  });
});
