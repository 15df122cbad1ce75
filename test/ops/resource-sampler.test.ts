import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { readSystemCpuTimes } from "../../src/ops/cpu-usage.js";
import { readMemoryPressure } from "../../src/ops/memory-pressure.js";
import { MetricsRegistry } from "../../src/ops/metrics-registry.js";
import { readProcessRss } from "../../src/ops/process-memory.js";
import { ResourceMetrics } from "../../src/ops/resource-metrics.js";
import { ResourceSampler, type PowerMeter } from "../../src/ops/resource-sampler.js";
import { ManualClock } from "../support/manual-clock.js";
import { FakeProc } from "./fake-proc.js";

describe("resource sampling", () => {
  const proc = new FakeProc();
  after(() => proc.remove());

  it("reads this machine's /proc for real: CPU counters, this process's RSS, PSI when the kernel has it", () => {
    const cpu = readSystemCpuTimes();
    assert.ok(cpu && cpu.totalSeconds > 0 && cpu.busySeconds > 0 && cpu.busySeconds < cpu.totalSeconds);
    const rss = readProcessRss(process.pid);
    assert.ok(rss !== undefined && Math.abs(rss - process.memoryUsage().rss) < 64 * 2 ** 20, `rss ${rss}`);
    assert.equal(readProcessRss(2 ** 22 + 17), undefined, "a process that does not exist has no RSS");
    const pressure = readMemoryPressure();
    // Present or absent depending on the kernel, but never made up.
    if (pressure) assert.ok(pressure.some.avg10 >= 0 && pressure.some.avg10 <= 1);
  });

  it("computes utilisation between samples and labels each source; absent sources stay absent", () => {
    proc.stat(1000, 500, 8500).meminfo(8_000_000, 2_000_000).process(4242, 300_000, 100, 50);
    const sampler = new ResourceSampler({ procRoot: proc.root, cores: 4, runners: () => [{ model: "m", runnerId: "m-1", pid: 4242 }] });
    const first = sampler.sample();
    assert.equal(first.systemCpu, undefined, "one reading gives no utilisation");
    assert.equal(first.memory.usedRatio, 0.75);
    assert.equal(first.pressure, undefined, "no PSI file: no pressure");
    assert.equal(first.power, undefined);
    assert.equal(first.runners[0]!.rssBytes, 300_000 * 1024);

    // 1000 more ticks: 600 busy (user 400 + system 200), 400 idle → 60%.
    proc.stat(1400, 700, 8900).pressure(12.5, 3).process(4242, 310_000, 300, 50);
    const second = sampler.sample();
    assert.ok(Math.abs(second.systemCpu! - 0.6) < 1e-9, `system cpu ${second.systemCpu}`);
    assert.equal(second.pressure?.some.avg10, 0.125);
    assert.equal(second.pressure?.full?.avg10, 0.03);
    assert.ok(second.runners[0]!.cpuRatio !== undefined);
  });

  it("exposes resource gauges without inventing values for missing sources", async () => {
    proc.stat(1000, 500, 8500).meminfo(4_000_000, 1_000_000).write("pressure/memory", "garbage\n");
    const registry = new MetricsRegistry({ processMetrics: false });
    const metrics = new ResourceMetrics(registry, () => 100, 60);
    const sampler = new ResourceSampler({ procRoot: proc.root, cores: 2 });
    metrics.update(sampler.sample());
    let text = await registry.render();
    assert.match(text, /^edgelm_memory_used_ratio 0\.75$/m);
    assert.match(text, /^edgelm_memory_total_bytes 4096000000$/m);
    assert.doesNotMatch(text, /^edgelm_memory_pressure_ratio\{/m);
    assert.doesNotMatch(text, /^edgelm_power_watts\{/m);
    assert.doesNotMatch(text, /^edgelm_energy_per_token_joules\{/m);
    assert.doesNotMatch(text, /^edgelm_cpu_utilization_ratio\{scope="system"\}/m);

    let watts = 4;
    const meter: PowerMeter = { source: "rapl package-0", kind: "rapl", read: () => watts };
    const clock = new ManualClock();
    const powered = new ResourceSampler({ procRoot: proc.root, cores: 2, power: meter, clock: clock.now });
    powered.sample();
    clock.advance(50);
    proc.pressure(40, 10);
    metrics.update(powered.sample());
    text = await registry.render();
    assert.match(text, /^edgelm_power_watts\{source="rapl package-0",kind="rapl"\} 4$/m);
    assert.match(text, /^edgelm_memory_pressure_ratio\{kind="some",window="10s"\} 0\.4$/m);
    const perToken = /^edgelm_energy_per_token_joules\{source="rapl package-0",kind="rapl"\} (\S+)$/m.exec(text);
    assert.ok(perToken, "energy per token appears once power is known");
    // 4 W over ≈50 ms = ≈0.2 J for 100 tokens.
    assert.ok(Number(perToken[1]) > 0.001 && Number(perToken[1]) < 0.02, perToken[1]);

    watts = Number.NaN;
    const broken: PowerMeter = { source: "battery BAT0", kind: "battery", read: () => undefined };
    metrics.update(new ResourceSampler({ procRoot: proc.root, power: broken }).sample());
    text = await registry.render();
    assert.doesNotMatch(text, /^edgelm_power_watts\{/m, "a sensor without a reading is no metric");
  });
});
