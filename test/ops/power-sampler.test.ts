import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { findPowerSource, PowerSampler, readWatts } from "../../src/ops/power-sampler.js";

const roots: string[] = [];
function fakeSysfs(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "edgelm-sysfs-"));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), `${content}\n`);
  }
  return root;
}
const write = (root: string, path: string, content: string): void => writeFileSync(join(root, path), `${content}\n`);

describe("power sampler (fake sysfs trees)", () => {
  after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

  it("finds nothing on a machine without power readings", () => {
    const root = fakeSysfs({ "class/power_supply/AC/type": "Mains", "class/power_supply/AC/online": "1" });
    assert.equal(findPowerSource(root), undefined);
    assert.equal(PowerSampler.forMachine(root), undefined);
    assert.equal(findPowerSource(join(root, "does-not-exist")), undefined);
  });

  it("sums RAPL package counters, skips sub-zones, and handles wrap-around", () => {
    const root = fakeSysfs({
      "class/powercap/intel-rapl:0/name": "package-0",
      "class/powercap/intel-rapl:0/energy_uj": "1000000",
      "class/powercap/intel-rapl:0/max_energy_range_uj": "262143328850",
      "class/powercap/intel-rapl:0:0/name": "core",
      "class/powercap/intel-rapl:0:0/energy_uj": "5",
      "class/powercap/intel-rapl:1/name": "package-1",
      "class/powercap/intel-rapl:1/energy_uj": "262143000000",
      "class/powercap/intel-rapl:1/max_energy_range_uj": "262143328850",
    });
    const source = findPowerSource(root)!;
    assert.equal(source.kind, "rapl");
    assert.equal(source.label, "rapl package-0 + package-1");
    const sampler = new PowerSampler(source);
    sampler.start();
    write(root, "class/powercap/intel-rapl:0/energy_uj", "3500000"); // +2.5 J
    write(root, "class/powercap/intel-rapl:0:0/energy_uj", "999999999"); // a sub-zone: not counted
    write(root, "class/powercap/intel-rapl:1/energy_uj", "171150"); // wrapped: +328850 + 171150 µJ = +0.5 J
    const m = sampler.stop()!;
    assert.equal(m.kind, "rapl");
    assert.ok(Math.abs(m.joules - 3.0) < 1e-9, String(m.joules));
    assert.ok(m.seconds > 0);
    assert.ok(Math.abs(m.averageWatts - m.joules / m.seconds) < 1e-9);
  });

  it("prefers the platform-wide psys zone alone", () => {
    const root = fakeSysfs({
      "class/powercap/intel-rapl:0/name": "package-0",
      "class/powercap/intel-rapl:0/energy_uj": "100",
      "class/powercap/intel-rapl:1/name": "psys",
      "class/powercap/intel-rapl:1/energy_uj": "200",
    });
    const source = findPowerSource(root)!;
    assert.equal(source.label, "rapl psys");
    assert.equal(source.files.length, 1);
  });

  it("uses an hwmon energy counter, else integrates an hwmon power reading", async () => {
    const energyRoot = fakeSysfs({ "class/hwmon/hwmon0/name": "amd_energy", "class/hwmon/hwmon0/energy1_input": "10000000" });
    const energy = new PowerSampler(findPowerSource(energyRoot)!);
    energy.start();
    write(energyRoot, "class/hwmon/hwmon0/energy1_input", "10750000");
    assert.ok(Math.abs(energy.stop()!.joules - 0.75) < 1e-9);

    const powerRoot = fakeSysfs({ "class/hwmon/hwmon3/name": "ina219", "class/hwmon/hwmon3/power1_input": "4000000" });
    const source = findPowerSource(powerRoot)!;
    assert.equal(source.kind, "hwmon-power");
    assert.equal(readWatts(source), 4);
    const sampler = new PowerSampler(source, 10);
    sampler.start();
    await new Promise((r) => setTimeout(r, 60));
    const m = sampler.stop()!;
    assert.ok(Math.abs(m.averageWatts - 4) < 1e-9, String(m.averageWatts));
    assert.ok(Math.abs(m.joules - 4 * m.seconds) < 1e-9);
  });

  it("counts a battery only while it discharges (power_now, or current × voltage)", () => {
    const root = fakeSysfs({
      "class/power_supply/BAT0/type": "Battery",
      "class/power_supply/BAT0/status": "Charging",
      "class/power_supply/BAT0/current_now": "500000",
      "class/power_supply/BAT0/voltage_now": "12000000",
    });
    const source = findPowerSource(root)!;
    assert.equal(source.kind, "battery");
    assert.equal(readWatts(source), undefined, "charging: not a consumption reading");
    const sampler = new PowerSampler(source);
    sampler.start();
    assert.equal(sampler.stop(), undefined);
    write(root, "class/power_supply/BAT0/status", "Discharging");
    assert.equal(readWatts(source), 6); // 0.5 A × 12 V

    const direct = fakeSysfs({
      "class/power_supply/BAT1/type": "Battery",
      "class/power_supply/BAT1/status": "Discharging",
      "class/power_supply/BAT1/power_now": "7250000",
    });
    assert.equal(readWatts(findPowerSource(direct)!), 7.25);
  });

  it("gives no measurement when a counter becomes unreadable", () => {
    const root = fakeSysfs({ "class/powercap/intel-rapl:0/name": "package-0", "class/powercap/intel-rapl:0/energy_uj": "100" });
    const sampler = PowerSampler.forMachine(root)!;
    sampler.start();
    write(root, "class/powercap/intel-rapl:0/energy_uj", "garbage");
    assert.equal(sampler.stop(), undefined);
  });
});
