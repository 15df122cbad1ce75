/**
 * The edge benchmark of one loaded model: the same fixed-length request at the
 * tuned thread setting and at each fixed thread count, interleaved over rounds
 * (these machines are noisy: medians of interleaved runs, never one run), with
 * latency percentiles, throughput, peak memory and — where the machine exposes
 * a power reading — energy per token.
 */
import { PowerSampler, type PowerMeasurement } from "../ops/power-sampler.js";
import {
  benchmarkPrompt,
  decodeRate,
  fileIdentity,
  machineIdentity,
  median,
  pick,
  quantile,
  timeRequest,
  TYPICAL_PROMPT_TOKENS,
  type MachineIdentity,
  type ThreadTuning,
} from "./thread-tuning.js";
import type { LoadedModel, ThreadSetting } from "./types.js";

export type ThreadChoiceSource = "measured" | "cached" | "configured" | "default";

export interface BenchmarkOptions {
  /** Prompt length in tokens (evaluated in full every run). Default 128. */
  promptTokens?: number;
  /** Generated tokens per run (end of text is ignored). Default 64. */
  generatedTokens?: number;
  /** Rounds; every setting runs once per round, in a rotating order. Default 3. */
  rounds?: number;
  /** Fixed thread counts to compare with (prompt = decode = n). Default none. */
  threadCounts?: number[];
  /** The setting under test (the tuned or configured one) and where it came from. */
  threads: ThreadSetting;
  threadSource: ThreadChoiceSource;
  /** Root of sysfs for power readings. Default "/sys". */
  sysfsRoot?: string;
  signal?: AbortSignal;
  /** Called after every run (for a progress line). */
  onProgress?: (done: number, total: number) => void;
}

export interface RunSample {
  timeToFirstTokenMs: number;
  promptTokens: number;
  completionTokens: number;
  promptTokensPerSecond: number;
  decodeTokensPerSecond: number;
  totalMs: number;
}

export interface SettingResult {
  label: string;
  threads: ThreadSetting;
  runs: RunSample[];
  timeToFirstTokenMs: { p50: number | null; p95: number | null };
  perTokenMs: { p50: number | null; p95: number | null };
  decodeTokensPerSecond: number | null;
  promptTokensPerSecond: number | null;
  /** Generated tokens per minute of whole requests (prompt processing included). */
  tokensPerMinute: number | null;
}

export interface PowerResult {
  source: string;
  averageWatts: number;
  joules: number;
  seconds: number;
  /** Joules per generated token over the tuned setting's requests (prompt processing included). */
  joulesPerToken: number;
}

export interface BenchmarkReport {
  model: { name: string; path: string; quantization: string; parameters: number; fileSize: number; contextSize: number };
  engine: { backend: string; build: string; threadsPerPhase: boolean };
  machine: MachineIdentity;
  workload: { promptTokens: number; generatedTokens: number; rounds: number };
  tuned: SettingResult & { source: ThreadChoiceSource };
  fixed: SettingResult[];
  bestFixed: {
    decode: { threads: number; tokensPerSecond: number } | null;
    prompt: { threads: number; tokensPerSecond: number } | null;
  };
  /** Tuned median over the best fixed median, per phase; `within5Percent` when both are >= 0.95. */
  tunedVsBestFixed: { decode: number | null; prompt: number | null; within5Percent: boolean | null };
  peakRssBytes: number;
  /** null when the machine exposes no power reading (never estimated). */
  power: PowerResult | null;
}

interface Setting {
  label: string;
  threads: ThreadSetting;
  runs: RunSample[];
  gaps: number[];
}

/** Benchmarks a loaded model; leaves its threads at `options.threads`. */
export async function benchmarkModel(model: LoadedModel, options: BenchmarkOptions): Promise<BenchmarkReport> {
  const promptTokens = Math.min(options.promptTokens ?? TYPICAL_PROMPT_TOKENS, Math.max(1, model.info.contextSize - (options.generatedTokens ?? 64) - 8));
  const generatedTokens = Math.min(options.generatedTokens ?? 64, Math.max(1, model.info.contextSize - promptTokens - 8));
  const rounds = Math.max(1, options.rounds ?? 3);
  const canSwitch = typeof model.setThreads === "function" && model.info.threadsPerPhase;
  const tunedSetting: Setting = { label: "tuned", threads: options.threads, runs: [], gaps: [] };
  const settings: Setting[] = [tunedSetting];
  const fixedSettings: Setting[] = [];
  if (canSwitch) {
    for (const n of [...new Set(options.threadCounts ?? [])].sort((a, b) => a - b)) {
      // A fixed count equal to the tuned setting is the same configuration: it is measured
      // once, and the tuned figures are its figures (twice the samples, no noise between them).
      const same = options.threads.prompt === n && options.threads.decode === n;
      if (same) tunedSetting.label = `tuned = fixed ${n}`;
      const setting = same ? tunedSetting : { label: `fixed ${n}`, threads: { prompt: n, decode: n }, runs: [], gaps: [] };
      if (!same) settings.push(setting);
      fixedSettings.push(setting);
    }
  }
  const apply = (threads: ThreadSetting): void => {
    if (canSwitch) model.setThreads!(threads);
  };
  const prompt = await benchmarkPrompt(model, promptTokens);
  const signalOption = options.signal ? { signal: options.signal } : {};

  // One discarded run: page the weights in and warm caches.
  apply(options.threads);
  await timeRequest(model, prompt, Math.min(4, generatedTokens), signalOption);

  const sampler = PowerSampler.forMachine(options.sysfsRoot ?? "/sys");
  const energy: PowerMeasurement[] = [];
  const total = rounds * settings.length;
  let done = 0;
  // A setting far slower than the one under test (e.g. more threads than free cores) would
  // stretch the benchmark to minutes: its runs stop at 10x the first tuned run (at least 3 s)
  // and count the tokens they made in that time.
  let deadlineMs: number | undefined;
  for (let round = 0; round < rounds; round++) {
    const rotated = settings.map((_, i) => settings[(i + round) % settings.length]!);
    const order = round % 2 === 1 ? rotated.reverse() : rotated;
    for (const setting of order) {
      apply(setting.threads);
      const measurePower = sampler !== undefined && setting === tunedSetting;
      if (measurePower) sampler.start();
      const run = await timeRequest(model, prompt, generatedTokens, {
        ...signalOption,
        ...(deadlineMs !== undefined && setting !== tunedSetting ? { deadlineMs } : {}),
      });
      if (setting === tunedSetting && deadlineMs === undefined) deadlineMs = Math.max(3_000, 10 * run.timings.totalMs);
      if (measurePower) {
        const measured = sampler.stop();
        if (measured) energy.push(measured);
      }
      const t = run.timings;
      setting.runs.push({
        timeToFirstTokenMs: t.timeToFirstTokenMs,
        promptTokens: t.promptTokens,
        completionTokens: t.completionTokens,
        promptTokensPerSecond: t.promptTokensPerSecond,
        decodeTokensPerSecond: decodeRate(run),
        totalMs: t.totalMs,
      });
      setting.gaps.push(...run.tokenGapsMs);
      options.onProgress?.(++done, total);
    }
  }
  apply(options.threads);

  const summaries = new Map(settings.map((setting) => [setting, summarize(setting)]));
  const tuned = { ...summaries.get(tunedSetting)!, source: options.threadSource };
  const fixed = fixedSettings.map((setting) => summaries.get(setting)!);
  const best = (rate: (r: SettingResult) => number | null) => {
    let top: { threads: number; tokensPerSecond: number } | null = null;
    for (const r of fixed) {
      const v = rate(r);
      if (v !== null && (top === null || v > top.tokensPerSecond)) top = { threads: r.threads.decode, tokensPerSecond: v };
    }
    return top;
  };
  const bestDecode = best((r) => r.decodeTokensPerSecond);
  const bestPrompt = best((r) => r.promptTokensPerSecond);
  const ratio = (value: number | null, top: { tokensPerSecond: number } | null): number | null =>
    value !== null && top !== null && top.tokensPerSecond > 0 ? round3(value / top.tokensPerSecond) : null;
  const decodeRatio = ratio(tuned.decodeTokensPerSecond, bestDecode);
  const promptRatio = ratio(tuned.promptTokensPerSecond, bestPrompt);

  const tunedTokens = tuned.runs.reduce((sum, r) => sum + r.completionTokens, 0);
  let power: PowerResult | null = null;
  if (sampler && energy.length > 0 && tunedTokens > 0) {
    const joules = energy.reduce((sum, e) => sum + e.joules, 0);
    const seconds = energy.reduce((sum, e) => sum + e.seconds, 0);
    power = {
      source: sampler.source.label,
      averageWatts: joules / seconds,
      joules,
      seconds,
      joulesPerToken: joules / tunedTokens,
    };
  }
  const info = model.info;
  return {
    model: {
      name: info.name,
      path: info.path,
      quantization: info.quantization,
      parameters: info.parameterCount,
      fileSize: info.fileSize,
      contextSize: info.contextSize,
    },
    engine: { backend: info.backend, build: info.engineBuild, threadsPerPhase: info.threadsPerPhase },
    machine: machineIdentity(),
    workload: { promptTokens, generatedTokens, rounds },
    tuned,
    fixed,
    bestFixed: { decode: bestDecode, prompt: bestPrompt },
    tunedVsBestFixed: {
      decode: decodeRatio,
      prompt: promptRatio,
      within5Percent: decodeRatio === null || promptRatio === null ? null : decodeRatio >= 0.95 && promptRatio >= 0.95,
    },
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    power,
  };
}

/**
 * The thread choice a benchmark's fixed-count medians support (per phase, the
 * fewest threads within `within` of the best, default 3%), as a tuning record
 * for the cache — a benchmark measures more and longer than the first quick
 * calibration. Null when it compared no fixed counts.
 */
export function tuningFromBenchmark(report: BenchmarkReport, modelFile: string, within = 0.03): ThreadTuning | null {
  const fixed = report.fixed.map((f) => ({ ...f, threads: f.threads.decode }));
  const prompt = pick(fixed, (f) => f.promptTokensPerSecond, within);
  const decode = pick(fixed, (f) => f.decodeTokensPerSecond, within);
  if (prompt === undefined || decode === undefined) return null;
  return {
    threads: { prompt, decode },
    candidates: report.fixed.map((f) => ({
      threads: f.threads.decode,
      promptTokensPerSecond: f.promptTokensPerSecond,
      decodeTokensPerSecond: f.decodeTokensPerSecond,
      promptSamples: f.runs.map((r) => r.promptTokensPerSecond),
      decodeSamples: f.runs.map((r) => r.decodeTokensPerSecond),
    })),
    promptTokens: report.workload.promptTokens,
    generatedTokens: report.workload.generatedTokens,
    rounds: report.workload.rounds,
    elapsedMs: 0,
    measuredAt: new Date().toISOString(),
    machine: report.machine,
    engineBuild: report.engine.build,
    model: fileIdentity(modelFile),
  };
}

function summarize(setting: Setting): SettingResult {
  const runs = setting.runs;
  const pick = (f: (r: RunSample) => number) => runs.map(f).filter((v) => v > 0);
  const perMinute = runs.filter((r) => r.totalMs > 0).map((r) => (r.completionTokens * 60_000) / r.totalMs);
  const r3 = (v: number | null): number | null => (v === null ? null : round3(v));
  return {
    label: setting.label,
    threads: setting.threads,
    runs,
    timeToFirstTokenMs: { p50: r3(quantile(pick((r) => r.timeToFirstTokenMs), 0.5)), p95: r3(quantile(pick((r) => r.timeToFirstTokenMs), 0.95)) },
    perTokenMs: { p50: r3(quantile(setting.gaps, 0.5)), p95: r3(quantile(setting.gaps, 0.95)) },
    // Zero stays in: a run cut off before its first token made no progress at all.
    decodeTokensPerSecond: r3(median(runs.map((r) => r.decodeTokensPerSecond))),
    promptTokensPerSecond: r3(median(pick((r) => r.promptTokensPerSecond))),
    tokensPerMinute: r3(median(perMinute)),
  };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
