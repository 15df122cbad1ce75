/**
 * Resource metrics from the ResourceSampler's snapshots. Gauges carry labels
 * so that a source the machine lacks (PSI, a power sensor) has no sample at
 * all in the exposition rather than a zero that looks like a reading.
 */
import { Counter, Gauge } from "prom-client";
import type { MetricsRegistry } from "./metrics-registry.js";
import type { ResourceSnapshot } from "./resource-sampler.js";

/** Joules measured in one sample interval, kept for energy per token over the window. */
interface EnergySample {
  at: number;
  joules: number;
}

export class ResourceMetrics {
  private readonly cpu: Gauge<"scope">;
  private readonly cores: Gauge;
  private readonly memoryTotal: Gauge;
  private readonly memoryAvailable: Gauge;
  private readonly memoryUsed: Gauge;
  private readonly pressure: Gauge<"kind" | "window">;
  private readonly runnerRss: Gauge<"model" | "runner">;
  private readonly runnerCpu: Gauge<"model" | "runner">;
  private readonly power: Gauge<"source" | "kind">;
  private readonly energy: Counter<"source" | "kind">;
  private readonly energyPerToken: Gauge<"source" | "kind">;
  private energySamples: EnergySample[] = [];

  /**
   * @param tokensGenerated generated tokens (all models) over the last N seconds; with
   *   a power reading it gives energy per token. Absent: no energy-per-token metric.
   * @param windowSeconds the window for energy per token. Default 60.
   */
  constructor(
    metrics: MetricsRegistry,
    private readonly tokensGenerated?: (seconds: number) => number,
    private readonly windowSeconds = 60,
  ) {
    const registers = [metrics.registry];
    this.cpu = new Gauge({
      name: "edgelm_cpu_utilization_ratio",
      help: "Busy share (0-1) of all CPU cores between samples: scope=system is the whole machine, scope=process the gateway process.",
      labelNames: ["scope"],
      registers,
    });
    this.cores = new Gauge({ name: "edgelm_cpu_cores", help: "CPU cores available to edgelm.", registers });
    this.memoryTotal = new Gauge({ name: "edgelm_memory_total_bytes", help: "Physical memory of the machine.", registers });
    this.memoryAvailable = new Gauge({
      name: "edgelm_memory_available_bytes",
      help: "Memory that can be allocated without swapping (MemAvailable).",
      registers,
    });
    this.memoryUsed = new Gauge({
      name: "edgelm_memory_used_ratio",
      help: "Share (0-1) of physical memory in use: 1 - MemAvailable / MemTotal.",
      registers,
    });
    this.pressure = new Gauge({
      name: "edgelm_memory_pressure_ratio",
      help: "Share (0-1) of time tasks stalled waiting for memory (Linux PSI, /proc/pressure/memory), averaged over window.",
      labelNames: ["kind", "window"],
      registers,
    });
    this.runnerRss = new Gauge({
      name: "edgelm_runner_resident_memory_bytes",
      help: "Resident memory of a runner process.",
      labelNames: ["model", "runner"],
      registers,
    });
    this.runnerCpu = new Gauge({
      name: "edgelm_runner_cpu_utilization_ratio",
      help: "Share (0-1) of all CPU cores a runner process used between samples.",
      labelNames: ["model", "runner"],
      registers,
    });
    this.power = new Gauge({
      name: "edgelm_power_watts",
      help: "Mean power draw between samples from the machine's sensor (source names it).",
      labelNames: ["source", "kind"],
      registers,
    });
    this.energy = new Counter({
      name: "edgelm_energy_joules_total",
      help: "Energy measured by the power sensor since the gateway started.",
      labelNames: ["source", "kind"],
      registers,
    });
    this.energyPerToken = new Gauge({
      name: "edgelm_energy_per_token_joules",
      help: "Energy per generated token over the metrics window: measured joules / tokens generated (all models).",
      labelNames: ["source", "kind"],
      registers,
    });
  }

  /** Sets every gauge from a snapshot; what the snapshot lacks is removed, not zeroed. */
  update(snapshot: ResourceSnapshot): void {
    this.cpu.reset();
    if (snapshot.systemCpu !== undefined) this.cpu.set({ scope: "system" }, snapshot.systemCpu);
    if (snapshot.processCpu !== undefined) this.cpu.set({ scope: "process" }, snapshot.processCpu);
    this.cores.set(snapshot.cores);
    this.memoryTotal.set(snapshot.memory.totalBytes);
    this.memoryAvailable.set(snapshot.memory.availableBytes);
    this.memoryUsed.set(snapshot.memory.usedRatio);

    this.pressure.reset();
    const pressure = snapshot.pressure;
    if (pressure) {
      for (const [kind, line] of [["some", pressure.some], ["full", pressure.full]] as const) {
        if (!line) continue;
        this.pressure.set({ kind, window: "10s" }, line.avg10);
        this.pressure.set({ kind, window: "60s" }, line.avg60);
        this.pressure.set({ kind, window: "300s" }, line.avg300);
      }
    }

    this.runnerRss.reset();
    this.runnerCpu.reset();
    for (const runner of snapshot.runners) {
      const labels = { model: runner.model, runner: runner.runnerId };
      if (runner.rssBytes !== undefined) this.runnerRss.set(labels, runner.rssBytes);
      if (runner.cpuRatio !== undefined) this.runnerCpu.set(labels, runner.cpuRatio);
    }

    this.power.reset();
    this.energyPerToken.reset();
    const power = snapshot.power;
    if (!power) return;
    const labels = { source: power.source, kind: power.kind };
    this.power.set(labels, power.watts);
    if (power.joules > 0) this.energy.inc(labels, power.joules);
    this.energySamples.push({ at: snapshot.at, joules: power.joules });
    const cutoff = snapshot.at - this.windowSeconds * 1000;
    this.energySamples = this.energySamples.filter((s) => s.at > cutoff);
    if (!this.tokensGenerated) return;
    const tokens = this.tokensGenerated(this.windowSeconds);
    const joules = this.energySamples.reduce((sum, s) => sum + s.joules, 0);
    if (tokens > 0 && joules > 0) this.energyPerToken.set(labels, joules / tokens);
  }
}
