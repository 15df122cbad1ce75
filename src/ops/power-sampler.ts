/**
 * Power and energy from Linux sysfs, read under a root directory (config
 * `sysfs_root`, EDGELM_SYSFS_ROOT) so tests can point it at a fake tree.
 *
 * Sources, best first (only one is used, so nothing is counted twice):
 * - RAPL powercap zones (`class/powercap/<zone>/energy_uj`, cumulative µJ,
 *   wrapping at `max_energy_range_uj`): a `psys` zone (whole platform) alone,
 *   else the sum of the top-level package zones (`intel-rapl:N`, also on AMD).
 * - hwmon energy counters (`class/hwmon/hwmon*\/energy*_input`, µJ).
 * - hwmon power readings (`class/hwmon/hwmon*\/power*_input` or `_average`, µW).
 * - a battery while it discharges (`class/power_supply/<bat>/power_now` µW,
 *   or `current_now` µA × `voltage_now` µV): on AC power it measures charging,
 *   not what this machine draws, so it counts only while discharging.
 * A machine without any of these has no power reading: callers show "n/a",
 * never an estimate.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export type PowerSourceKind = "rapl" | "hwmon-energy" | "hwmon-power" | "battery";

export interface PowerSource {
  kind: PowerSourceKind;
  /** Human-readable, e.g. "rapl package-0 + package-1", "hwmon k10temp power1", "battery BAT0". */
  label: string;
  /** Cumulative counters (µJ) or instantaneous readers (µW), depending on kind. */
  files: string[];
}

export interface PowerMeasurement {
  source: string;
  kind: PowerSourceKind;
  seconds: number;
  joules: number;
  averageWatts: number;
}

function readNumber(path: string): number | undefined {
  try {
    const text = readFileSync(path, "utf8").trim();
    if (!/^-?\d+(\.\d+)?$/.test(text)) return undefined;
    return Number(text);
  } catch {
    return undefined;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function findRapl(root: string): PowerSource | undefined {
  const base = join(root, "class", "powercap");
  // Top-level zones only ("intel-rapl:0", not the "intel-rapl:0:0" sub-zones they contain).
  const zones = list(base).filter((z) => /^[a-z-]+-rapl:\d+$/.test(z) && readNumber(join(base, z, "energy_uj")) !== undefined);
  if (zones.length === 0) return undefined;
  const named = zones.map((z) => ({ zone: z, name: readText(join(base, z, "name")) ?? z }));
  const psys = named.find((z) => z.name === "psys");
  const chosen = psys ? [psys] : named;
  return {
    kind: "rapl",
    label: `rapl ${chosen.map((z) => z.name).join(" + ")}`,
    files: chosen.map((z) => join(base, z.zone, "energy_uj")),
  };
}

function findHwmon(root: string): PowerSource | undefined {
  const base = join(root, "class", "hwmon");
  const energy: PowerSource[] = [];
  const power: PowerSource[] = [];
  for (const dir of list(base)) {
    const name = readText(join(base, dir, "name")) ?? dir;
    for (const file of list(join(base, dir))) {
      const path = join(base, dir, file);
      if (/^energy\d+_input$/.test(file) && readNumber(path) !== undefined) {
        energy.push({ kind: "hwmon-energy", label: `hwmon ${name} ${file.replace("_input", "")}`, files: [path] });
      } else if (/^power\d+_(input|average)$/.test(file) && readNumber(path) !== undefined) {
        power.push({ kind: "hwmon-power", label: `hwmon ${name} ${file.replace(/_(input|average)$/, "")}`, files: [path] });
      }
    }
  }
  // One sensor: several hwmon sensors often measure overlapping rails.
  return energy[0] ?? power[0];
}

function findBattery(root: string): PowerSource | undefined {
  const base = join(root, "class", "power_supply");
  for (const supply of list(base)) {
    const dir = join(base, supply);
    if (readText(join(dir, "type")) !== "Battery") continue;
    if (readNumber(join(dir, "power_now")) !== undefined) {
      return { kind: "battery", label: `battery ${supply}`, files: [join(dir, "power_now"), join(dir, "status")] };
    }
    if (readNumber(join(dir, "current_now")) !== undefined && readNumber(join(dir, "voltage_now")) !== undefined) {
      return {
        kind: "battery",
        label: `battery ${supply}`,
        files: [join(dir, "current_now"), join(dir, "status"), join(dir, "voltage_now")],
      };
    }
  }
  return undefined;
}

/** The best power source under `sysfsRoot` (default "/sys"), or undefined when the machine exposes none. */
export function findPowerSource(sysfsRoot = "/sys"): PowerSource | undefined {
  return findRapl(sysfsRoot) ?? findHwmon(sysfsRoot) ?? findBattery(sysfsRoot);
}

/** Instantaneous watts from a power-reading source; undefined when unreadable (or a battery not discharging). */
export function readWatts(source: PowerSource): number | undefined {
  if (source.kind === "hwmon-power") {
    const microwatts = readNumber(source.files[0]!);
    return microwatts === undefined ? undefined : microwatts / 1e6;
  }
  if (source.kind === "battery") {
    const status = readText(source.files[1]!);
    if (status !== "Discharging") return undefined;
    if (source.files.length === 2) {
      const microwatts = readNumber(source.files[0]!);
      return microwatts === undefined ? undefined : Math.abs(microwatts) / 1e6;
    }
    const microamps = readNumber(source.files[0]!);
    const microvolts = readNumber(source.files[2]!);
    return microamps === undefined || microvolts === undefined ? undefined : Math.abs(microamps * microvolts) / 1e12;
  }
  return undefined;
}

/** Cumulative microjoules of an energy-counter source, one value per counter file. */
function readCounters(source: PowerSource): (number | undefined)[] {
  return source.files.map((f) => readNumber(f));
}

function counterRange(file: string): number | undefined {
  // RAPL: energy_uj wraps at max_energy_range_uj; hwmon energy counters are 64-bit and do not wrap in practice.
  return readNumber(join(file, "..", "max_energy_range_uj"));
}

/**
 * Measures energy over a window: call start(), do the work, call stop().
 * Energy counters are read at both ends (wrap-around handled); instantaneous
 * power readings are sampled every `intervalMs` (default 100 ms) and integrated.
 */
export class PowerSampler {
  private startedAt = 0;
  private startCounters: (number | undefined)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private samples: Array<{ at: number; watts: number }> = [];

  constructor(
    readonly source: PowerSource,
    private readonly intervalMs = 100,
  ) {}

  /** A sampler for the machine's best power source, or undefined when there is none. */
  static forMachine(sysfsRoot = "/sys", intervalMs = 100): PowerSampler | undefined {
    const source = findPowerSource(sysfsRoot);
    return source ? new PowerSampler(source, intervalMs) : undefined;
  }

  start(): void {
    this.startedAt = performance.now();
    this.samples = [];
    if (this.isCounter()) {
      this.startCounters = readCounters(this.source);
      return;
    }
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Ends the window; undefined when the source gave no usable reading in it. */
  stop(): PowerMeasurement | undefined {
    const endedAt = performance.now();
    const seconds = (endedAt - this.startedAt) / 1000;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    let joules: number | undefined;
    if (this.isCounter()) {
      const end = readCounters(this.source);
      let microjoules = 0;
      for (let i = 0; i < end.length; i++) {
        const a = this.startCounters[i];
        const b = end[i];
        if (a === undefined || b === undefined) return undefined;
        let delta = b - a;
        if (delta < 0) {
          const range = counterRange(this.source.files[i]!);
          if (range === undefined) return undefined;
          delta += range;
        }
        microjoules += delta;
      }
      joules = microjoules / 1e6;
    } else {
      this.sample();
      joules = this.integrate(seconds);
    }
    if (joules === undefined || seconds <= 0) return undefined;
    return { source: this.source.label, kind: this.source.kind, seconds, joules, averageWatts: joules / seconds };
  }

  private isCounter(): boolean {
    return this.source.kind === "rapl" || this.source.kind === "hwmon-energy";
  }

  private sample(): void {
    const watts = readWatts(this.source);
    if (watts !== undefined) this.samples.push({ at: performance.now(), watts });
  }

  /** Mean power over the samples (trapezoids), applied to the whole window. */
  private integrate(seconds: number): number | undefined {
    const s = this.samples;
    if (s.length === 0) return undefined;
    if (s.length === 1) return s[0]!.watts * seconds;
    let joules = 0;
    for (let i = 1; i < s.length; i++) joules += ((s[i]!.watts + s[i - 1]!.watts) / 2) * ((s[i]!.at - s[i - 1]!.at) / 1000);
    const covered = (s[s.length - 1]!.at - s[0]!.at) / 1000;
    const mean = covered > 0 ? joules / covered : s.reduce((sum, x) => sum + x.watts, 0) / s.length;
    return mean * seconds;
  }
}
