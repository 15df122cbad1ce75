import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { policiesSection, type PolicyRule } from "../../src/config/sections/policies.js";
import { RuleTracker } from "../../src/ops/rule-tracker.js";
import { WindowedQuantile } from "../../src/ops/windowed-quantile.js";
import { WindowedRate } from "../../src/ops/windowed-rate.js";

const rule = (fields: Partial<PolicyRule>): PolicyRule =>
  ({ name: "r", metric: "cpu_percent", op: ">", threshold: 85, for_s: 60, hysteresis: 10, cooldown_s: 300, actions: ["alert"], severity: "warning", enabled: true, ...fields }) as PolicyRule;

describe("windowed quantile and rate", () => {
  it("takes nearest-rank quantiles over the window only", () => {
    const q = new WindowedQuantile(1000);
    for (let i = 1; i <= 100; i++) q.add(i, 10_000 + i);
    assert.equal(q.quantile(0.95, 10_100), 95);
    assert.equal(q.quantile(0.5, 10_100), 50);
    assert.equal(q.count(10_100), 100);
    assert.equal(q.quantile(0.5, 11_050), 75, "observations older than the window drop out");
    assert.equal(q.count(11_098), 2);
    assert.equal(q.quantile(0.95, 20_000), undefined);
  });

  it("rates events per second over a window of per-second buckets", () => {
    const r = new WindowedRate(10, 0);
    for (let s = 0; s < 20; s++) r.add(50, s * 1000 + 500);
    assert.equal(r.total(19_900), 500, "only the last 10 seconds count");
    assert.equal(r.rate(19_900), 50);
    const young = new WindowedRate(60, 0);
    young.add(200, 1500);
    assert.equal(young.rate(2000), 100, "a young window divides by its age");
  });
});

describe("rule tracker", () => {
  it("fires only after the condition held for for_s", () => {
    const t = new RuleTracker(rule({}));
    assert.equal(t.observe(90, 0), "pending");
    assert.equal(t.observe(95, 30_000), undefined);
    assert.equal(t.observe(80, 40_000), "reset", "a dip restarts the clock");
    assert.equal(t.observe(90, 50_000), "pending");
    assert.equal(t.observe(90, 109_999), undefined);
    assert.equal(t.observe(90, 110_000), "fired");
    assert.equal(t.status, "firing");
  });

  it("clears with hysteresis and ignores missing readings while firing", () => {
    const t = new RuleTracker(rule({ for_s: 0 }));
    assert.equal(t.observe(86, 0), "fired");
    assert.equal(t.observe(80, 1), undefined, "80 is not 10 below 85");
    assert.equal(t.observe(undefined, 2), undefined);
    assert.equal(t.status, "firing");
    assert.equal(t.observe(75, 3), "cleared");
    const below = new RuleTracker(rule({ op: "<", threshold: 10, hysteresis: 2, for_s: 0 }));
    assert.equal(below.observe(9, 0), "fired");
    assert.equal(below.observe(11, 1), undefined);
    assert.equal(below.observe(12, 2), "cleared");
  });

  it("a rule never fires without a reading", () => {
    const t = new RuleTracker(rule({ for_s: 0 }));
    assert.equal(t.observe(undefined, 0), undefined);
    assert.equal(t.status, "ok");
  });
});

describe("policies config", () => {
  it("defaults to the seed's rules and rejects bad rules with their path", () => {
    const defaults = policiesSection.parse(undefined);
    assert.deepEqual(
      defaults.rules.map((r) => [r.name, r.metric, r.threshold, r.actions[0]]),
      [
        ["cpu_high", "cpu_percent", 85, "add_runner"],
        ["memory_high", "memory_used_percent", 90, "swap_lower_precision"],
        ["ttft_slow", "ttft_p95_ms", 200, "alert"],
        ["power_high", "power_watts", 5, "lower_parallelism"],
      ],
    );
    const bad = policiesSection.safeParse({
      rules: [
        { name: "a", metric: "cpu_percent", threshold: 1, actions: ["alert"] },
        { name: "a", metric: "gpu_percent", threshold: 1, actions: ["reboot"] },
      ],
    });
    assert.equal(bad.success, false);
    const paths = bad.error!.issues.map((i) => i.path.join("."));
    assert.ok(paths.includes("rules.1.metric") && paths.includes("rules.1.actions.0"), paths.join(", "));
  });
});
