/**
 * The last 15 minutes of the gateway, one point per resource sample, for the
 * console's dashboard plots. Each point closes a bucket of the gateway's own
 * request events (tokens, first tokens, inter-token gaps, runner restarts)
 * and joins them to the resource sampler's reading at that moment (CPU,
 * memory, PSI, power) and each model's queue. Kept in the gateway, not the
 * browser, so a page opened now still shows what happened before it.
 */
import type { GatewayEvents } from "../scheduler/gateway-events.js";
import type { ResourceSnapshot } from "../ops/resource-sampler.js";

/** One bucket of the dashboard's time series; null where nothing was measured in it. */
export interface HistoryPoint {
  /** Date.now() at the end of the bucket. */
  at: number;
  /** Generated tokens per second over the bucket, all models. */
  tokensPerSecond: number;
  ttftP50Ms: number | null;
  ttftP95Ms: number | null;
  interTokenP50Ms: number | null;
  interTokenP95Ms: number | null;
  /** Busy share of all cores, percent. */
  cpuPercent: number | null;
  memoryUsedPercent: number | null;
  /** PSI memory "some" avg10, percent. */
  memoryPressurePercent: number | null;
  powerWatts: number | null;
  /** Energy over the bucket divided by its generated tokens. */
  joulesPerToken: number | null;
  /** Runner restarts in the bucket. */
  runnerRestarts: number;
  /** Per model: requests waiting in its queue and requests generating. */
  models: Record<string, { waiting: number; running: number }>;
}

export interface ConsoleHistoryOptions {
  events: GatewayEvents;
  /** Registers a listener for each resource sample; returns its removal. */
  onSample: (listener: (snapshot: ResourceSnapshot) => void) => () => void;
  /** Queue and running requests per model at sample time. */
  models: () => Array<{ name: string; queue: { waiting: number; inFlight: number } }>;
  /** How far back points are kept, in seconds. Default 900 (15 minutes). */
  spanSeconds?: number;
  /** Seconds between samples (to size the buffer). */
  intervalSeconds: number;
}

/** Gaps kept per bucket for the inter-token quantiles (a bounded sample: later gaps replace random earlier ones). */
const MAX_GAPS = 4096;

/** The value at quantile `q` (0-1) of `values` (nearest rank), or null for none. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export class ConsoleHistory {
  private readonly points: HistoryPoint[] = [];
  private readonly capacity: number;
  private readonly spanMs: number;
  private tokens = 0;
  private ttfts: number[] = [];
  private gaps: number[] = [];
  private gapsSeen = 0;
  private restarts = 0;
  private bucketStart = Date.now();
  private readonly lastTokenAt = new Map<string, number>();
  private readonly detach: Array<() => void> = [];

  constructor(private readonly options: ConsoleHistoryOptions) {
    this.spanMs = (options.spanSeconds ?? 900) * 1000;
    this.capacity = Math.min(20_000, Math.ceil(this.spanMs / 1000 / options.intervalSeconds) + 1);
    const { events } = options;
    const onFirst = (e: { ttftMs: number }): void => void this.ttfts.push(e.ttftMs);
    const onTokens = (e: { requestId: string; tokens: number; at: number }): void => {
      this.tokens += e.tokens;
      const last = this.lastTokenAt.get(e.requestId);
      if (last !== undefined && e.tokens > 0) {
        const gap = (e.at - last) / e.tokens;
        for (let i = 0; i < e.tokens; i++) this.addGap(gap);
      }
      this.lastTokenAt.set(e.requestId, e.at);
    };
    const onEnd = (e: { requestId: string }): void => void this.lastTokenAt.delete(e.requestId);
    const onRestart = (): void => void this.restarts++;
    events.on("request:first-token", onFirst);
    events.on("request:tokens", onTokens);
    events.on("request:end", onEnd);
    events.on("runner:restart", onRestart);
    this.detach.push(
      () => events.off("request:first-token", onFirst),
      () => events.off("request:tokens", onTokens),
      () => events.off("request:end", onEnd),
      () => events.off("runner:restart", onRestart),
      options.onSample((snapshot) => this.close(snapshot)),
    );
  }

  /** The points of the last span, oldest first. */
  series(): HistoryPoint[] {
    const since = Date.now() - this.spanMs;
    return this.points.filter((p) => p.at >= since);
  }

  /** Stops listening. */
  stop(): void {
    for (const off of this.detach.splice(0)) off();
  }

  private addGap(gap: number): void {
    this.gapsSeen++;
    if (this.gaps.length < MAX_GAPS) this.gaps.push(gap);
    else {
      const slot = Math.floor(Math.random() * this.gapsSeen);
      if (slot < MAX_GAPS) this.gaps[slot] = gap;
    }
  }

  /** Ends the bucket at a resource sample. */
  private close(snapshot: ResourceSnapshot): void {
    const end = snapshot.at;
    const seconds = Math.max(0.001, (end - this.bucketStart) / 1000);
    const models: HistoryPoint["models"] = {};
    for (const m of this.options.models()) models[m.name] = { waiting: m.queue.waiting, running: m.queue.inFlight };
    const percent = (ratio: number | undefined): number | null => (ratio === undefined ? null : Math.round(ratio * 1000) / 10);
    const power = snapshot.power;
    this.points.push({
      at: end,
      tokensPerSecond: Math.round((this.tokens / seconds) * 100) / 100,
      ttftP50Ms: quantile(this.ttfts, 0.5),
      ttftP95Ms: quantile(this.ttfts, 0.95),
      interTokenP50Ms: quantile(this.gaps, 0.5),
      interTokenP95Ms: quantile(this.gaps, 0.95),
      cpuPercent: percent(snapshot.systemCpu),
      memoryUsedPercent: percent(snapshot.memory.usedRatio),
      memoryPressurePercent: percent(snapshot.pressure?.some.avg10),
      powerWatts: power ? power.watts : null,
      joulesPerToken: power && this.tokens > 0 ? power.joules / this.tokens : null,
      runnerRestarts: this.restarts,
      models,
    });
    if (this.points.length > this.capacity) this.points.splice(0, this.points.length - this.capacity);
    this.bucketStart = end;
    this.tokens = 0;
    this.ttfts = [];
    this.gaps = [];
    this.gapsSeen = 0;
    this.restarts = 0;
  }
}
