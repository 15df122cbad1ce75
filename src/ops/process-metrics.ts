/**
 * The gateway process's own metrics under Prometheus' standard names
 * (process_cpu_seconds_total, process_resident_memory_bytes, ...), read at
 * scrape time only. prom-client's default collector is not used: its GC
 * observer and event-loop timer cost the token path a few microseconds per
 * token (bench/metrics-overhead.ts), while these cost nothing between scrapes.
 */
import { existsSync, readdirSync } from "node:fs";
import { Counter, Gauge, type Registry } from "prom-client";

export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  /** A counter of CPU seconds: each scrape adds what was used since the previous one. */
  const cpuCounter = (name: string, help: string, seconds: (usage: NodeJS.CpuUsage) => number): void => {
    let reported = 0;
    new Counter({
      name,
      help,
      registers,
      collect() {
        const now = seconds(process.cpuUsage()) / 1e6;
        if (now > reported) this.inc(now - reported);
        reported = Math.max(reported, now);
      },
    });
  };
  cpuCounter("process_cpu_user_seconds_total", "User CPU time spent by the gateway process in seconds.", (u) => u.user);
  cpuCounter("process_cpu_system_seconds_total", "System CPU time spent by the gateway process in seconds.", (u) => u.system);
  cpuCounter("process_cpu_seconds_total", "Total user and system CPU time spent by the gateway process in seconds.", (u) => u.user + u.system);

  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  };
  gauge("process_resident_memory_bytes", "Resident memory of the gateway process in bytes.", () => process.memoryUsage.rss());
  gauge("nodejs_heap_size_used_bytes", "V8 heap in use by the gateway process in bytes.", () => process.memoryUsage().heapUsed);
  gauge("nodejs_heap_size_total_bytes", "V8 heap size of the gateway process in bytes.", () => process.memoryUsage().heapTotal);
  const started = Math.round(Date.now() / 1000 - process.uptime());
  gauge("process_start_time_seconds", "Start time of the gateway process since the Unix epoch in seconds.", () => started);
  // Only where the count can be read (Linux): elsewhere no metric rather than a made-up zero.
  if (existsSync("/proc/self/fd")) gauge("process_open_fds", "Open file descriptors of the gateway process.", () => readdirSync("/proc/self/fd").length - 1);
}
