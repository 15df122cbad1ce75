/**
 * Samples the machine and edgelm's processes on an interval: CPU (machine and
 * gateway process), memory used/available, memory pressure (PSI), each runner's
 * resident memory and CPU, and power when a meter exists. Each snapshot holds
 * only what could be read: a missing source is missing, never a zero.
 */
import { availableParallelism } from "node:os";
import { clampRatio, cpuUtilizationBetween, ownCpuSeconds, readProcessCpuSeconds, readSystemCpuTimes, type CpuTimes } from "./cpu-usage.js";
import { readMemoryPressure, type MemoryPressure } from "./memory-pressure.js";
import { readProcessRss } from "./process-memory.js";
import { readSystemMemory, type SystemMemory } from "./system-memory.js";

/** A runner process to watch. */
export interface RunnerProcess {
  model: string;
  runnerId: string;
  pid: number | undefined;
}

export interface RunnerUsage extends RunnerProcess {
  /** Resident memory in bytes. */
  rssBytes?: number;
  /** Share (0–1) of all cores the runner used since the previous sample. */
  cpuRatio?: number;
}

/** Mean power since the previous read, from whatever sensor the machine has. */
export interface PowerMeter {
  /** Human-readable sensor, e.g. "rapl package-0". */
  readonly source: string;
  /** Sensor family, e.g. "rapl", "hwmon-power", "battery". */
  readonly kind: string;
  /** Mean watts since the previous call (or since creation); undefined when there is no usable reading. */
  read(): number | undefined;
  /** Releases what the meter holds (timers). */
  close?(): void;
}

export interface PowerReading {
  watts: number;
  source: string;
  kind: string;
  /** Joules over the sample interval (watts × seconds). */
  joules: number;
}

export interface ResourceSnapshot {
  /** Date.now() of the sample. */
  at: number;
  /** Seconds since the previous sample (0 for the first). */
  intervalSeconds: number;
  cores: number;
  /** Busy share (0–1) of all cores on the machine since the previous sample. */
  systemCpu?: number;
  /** Busy share (0–1) of all cores used by the gateway process itself. */
  processCpu?: number;
  memory: SystemMemory & { usedBytes: number; usedRatio: number };
  pressure?: MemoryPressure;
  runners: RunnerUsage[];
  power?: PowerReading;
}

export interface ResourceSamplerOptions {
  /** Where /proc is (tests point it at a fake tree). Default "/proc". */
  procRoot?: string;
  /** The runner processes to watch, asked at each sample. */
  runners?: () => RunnerProcess[];
  power?: PowerMeter;
  /** Milliseconds between samples when started. Default 5000. */
  intervalMs?: number;
  /** Cores to divide CPU time by. Default os.availableParallelism(). */
  cores?: number;
  /** The monotonic clock rates are measured with, in ms. Default performance.now (tests pass a manual one). */
  clock?: () => number;
}

export class ResourceSampler {
  private readonly procRoot: string;
  private readonly cores: number;
  private readonly listeners = new Set<(snapshot: ResourceSnapshot) => void>();
  private timer: NodeJS.Timeout | undefined;
  /** The previous sample: `clock` is performance.now() (sub-millisecond, monotonic). */
  private last: { clock: number; system: CpuTimes | undefined; own: number; runners: Map<string, number> } | undefined;
  private latestSnapshot: ResourceSnapshot | undefined;

  constructor(private readonly options: ResourceSamplerOptions = {}) {
    this.procRoot = options.procRoot ?? "/proc";
    this.cores = options.cores ?? availableParallelism();
  }

  /** The most recent snapshot (undefined before the first sample). */
  get latest(): ResourceSnapshot | undefined {
    return this.latestSnapshot;
  }

  /** Calls `listener` after every sample; returns a function that removes it. */
  onSample(listener: (snapshot: ResourceSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes a sample now (rates cover the time since the previous one). */
  sample(): ResourceSnapshot {
    const at = Date.now();
    const clock = this.options.clock ? this.options.clock() : performance.now();
    const system = readSystemCpuTimes(this.procRoot);
    const own = ownCpuSeconds();
    const previous = this.last;
    const seconds = previous ? (clock - previous.clock) / 1000 : 0;
    const memory = readSystemMemory(this.procRoot);
    const usedBytes = Math.max(0, memory.totalBytes - memory.availableBytes);
    const snapshot: ResourceSnapshot = {
      at,
      intervalSeconds: seconds,
      cores: this.cores,
      memory: { ...memory, usedBytes, usedRatio: memory.totalBytes > 0 ? usedBytes / memory.totalBytes : 0 },
      runners: [],
    };
    if (previous?.system && system) {
      const ratio = cpuUtilizationBetween(previous.system, system);
      if (ratio !== undefined) snapshot.systemCpu = ratio;
    }
    if (previous && seconds > 0) snapshot.processCpu = clampRatio((own - previous.own) / (seconds * this.cores));
    const pressure = readMemoryPressure(this.procRoot);
    if (pressure) snapshot.pressure = pressure;

    const runnerCpu = new Map<string, number>();
    for (const runner of this.options.runners?.() ?? []) {
      const usage: RunnerUsage = { ...runner };
      if (runner.pid !== undefined) {
        const rss = readProcessRss(runner.pid, this.procRoot);
        if (rss !== undefined) usage.rssBytes = rss;
        const cpu = readProcessCpuSeconds(runner.pid, this.procRoot);
        if (cpu !== undefined) {
          const key = `${runner.pid}`;
          runnerCpu.set(key, cpu);
          const before = previous?.runners.get(key);
          if (before !== undefined && seconds > 0) usage.cpuRatio = clampRatio((cpu - before) / (seconds * this.cores));
        }
      }
      snapshot.runners.push(usage);
    }

    const power = this.options.power;
    if (power) {
      const watts = power.read();
      if (watts !== undefined) snapshot.power = { watts, source: power.source, kind: power.kind, joules: watts * seconds };
    }

    this.last = { clock, system, own, runners: runnerCpu };
    this.latestSnapshot = snapshot;
    for (const listener of this.listeners) listener(snapshot);
    return snapshot;
  }

  /** Samples now and then every intervalMs until stop(). The timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.options.intervalMs ?? 5000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
