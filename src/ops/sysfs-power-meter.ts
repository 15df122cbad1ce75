/**
 * The machine's power sensor as a PowerMeter for the resource sampler, on top
 * of the PowerSampler `edgelm bench` uses (RAPL, hwmon energy or power, a
 * discharging battery; read under config `sysfs_root` / EDGELM_SYSFS_ROOT).
 * Each read() closes one measuring window and opens the next, so a reading is
 * the mean power since the previous sample.
 */
import { PowerSampler } from "./power-sampler.js";
import type { PowerMeter } from "./resource-sampler.js";

export class SysfsPowerMeter implements PowerMeter {
  readonly source: string;
  readonly kind: string;

  private constructor(private readonly sampler: PowerSampler) {
    this.source = sampler.source.label;
    this.kind = sampler.source.kind;
    sampler.start();
  }

  /**
   * The meter for this machine's best power source, or undefined when it has none.
   * @param sysfsRoot where /sys is (default "/sys").
   * @param intervalMs how often an instantaneous sensor (hwmon power, battery) is read inside a window. Default 1000.
   */
  static forMachine(sysfsRoot = "/sys", intervalMs = 1000): SysfsPowerMeter | undefined {
    const sampler = PowerSampler.forMachine(sysfsRoot, intervalMs);
    return sampler ? new SysfsPowerMeter(sampler) : undefined;
  }

  read(): number | undefined {
    const measurement = this.sampler.stop();
    this.sampler.start();
    return measurement?.averageWatts;
  }

  /** Stops reading an instantaneous sensor in the background. */
  close(): void {
    this.sampler.stop();
  }
}
