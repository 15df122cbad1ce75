/**
 * Threads by measurement. The best thread count depends on the model, the
 * machine, the engine build and the phase: prompt processing (big batches)
 * usually gains from every core, while decoding one token at a time can lose
 * from a second thread (synchronisation per layer costs more than it saves on
 * small models and on shared or busy cores). So edgelm measures once per model
 * and machine, prompt and decode apart, and caches the choice under
 * EDGELM_HOME/cache/thread-tuning.json.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { dirname, join } from "node:path";
import { logger } from "../log.js";
import type { GenerateRequest, LoadedModel, ThreadSetting, Timings } from "./types.js";

/** The prompt length calibration measures at most, and `edgelm bench` uses by default. */
export const TYPICAL_PROMPT_TOKENS = 128;

/** What the cache key says about this machine. */
export interface MachineIdentity {
  cpu: string;
  cores: number;
}

export function machineIdentity(): MachineIdentity {
  return { cpu: cpus()[0]?.model.trim() || "unknown", cores: availableParallelism() };
}

/** Per-candidate medians of a calibration (tokens/s; null when not measured). */
export interface ThreadCandidateResult {
  threads: number;
  promptTokensPerSecond: number | null;
  decodeTokensPerSecond: number | null;
  promptSamples: number[];
  decodeSamples: number[];
}

export interface ThreadTuning {
  threads: ThreadSetting;
  candidates: ThreadCandidateResult[];
  /** Prompt tokens and generated tokens per measurement. */
  promptTokens: number;
  generatedTokens: number;
  rounds: number;
  elapsedMs: number;
  measuredAt: string;
  machine: MachineIdentity;
  engineBuild: string;
  model: { path: string; size: number; mtimeMs: number };
  /** True when this result came from the cache rather than a measurement just now. */
  cached?: boolean;
}

/**
 * Thread counts worth trying on `cores` logical cores: every count up to 4,
 * then a few steps up to all cores (at most 8 candidates).
 */
export function threadCandidates(cores: number): number[] {
  const n = Math.max(1, Math.floor(cores));
  const out = new Set<number>();
  for (let t = 1; t <= Math.min(n, 4); t++) out.add(t);
  for (const t of [6, 8, 12, 16, 24, 32, 48, 64]) if (t < n) out.add(t);
  out.add(n);
  const list = [...out].sort((a, b) => a - b);
  // Keep the ends and thin the middle when there are too many.
  while (list.length > 8) list.splice(list.length - 2, 1);
  return list;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The `q` quantile (0–1) by linear interpolation, or null for no values. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

const PASSAGE =
  "The small robot rolled across the workshop floor, checking each shelf for the missing gear. " +
  "Outside, rain tapped on the window while the old clock counted the hours. " +
  "Every evening the engineer wrote down what the machines had learned that day, and every morning they tried again. ";

/** A prompt of about `tokens` tokens for this model (plain English, cut at a token boundary). */
export async function benchmarkPrompt(model: LoadedModel, tokens: number): Promise<string> {
  let text = PASSAGE;
  let ids = await model.tokenize(text);
  while (ids.length < tokens) {
    text += PASSAGE;
    ids = await model.tokenize(text);
  }
  return model.detokenize(ids.slice(0, Math.max(1, tokens - 1)));
}

export interface TimedRequest {
  timings: Timings;
  /** Milliseconds between consecutive generated tokens, as the consumer saw them. */
  tokenGapsMs: number[];
  aborted: boolean;
}

/**
 * Runs one fixed-length request without the prompt cache (so the whole prompt
 * is evaluated) and never stopping at end of text; stops at `deadlineMs`.
 */
export async function timeRequest(
  model: LoadedModel,
  prompt: string,
  maxTokens: number,
  options: { deadlineMs?: number; signal?: AbortSignal; sampling?: Partial<GenerateRequest> } = {},
): Promise<TimedRequest> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const timer = options.deadlineMs !== undefined ? setTimeout(() => controller.abort(), options.deadlineMs) : undefined;
  const gaps: number[] = [];
  try {
    const stream = await model.generate(
      { temperature: 0, seed: 1, ...options.sampling, prompt, maxTokens, cachePrompt: false, ignoreEos: true },
      controller.signal,
    );
    let last: number | undefined;
    for await (const chunk of stream) {
      const now = performance.now();
      const n = chunk.tokens.length;
      if (n > 0) {
        if (last !== undefined) for (let i = 0; i < n; i++) gaps.push((now - last) / n);
        last = now;
      }
    }
    const result = await stream.result;
    return { timings: result.timings, tokenGapsMs: gaps, aborted: result.finishReason === "abort" };
  } finally {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

export interface CalibrateOptions {
  /** Thread counts to try. Default: {@link threadCandidates} of this machine's cores. */
  candidates?: number[];
  /** Rough upper bound for the whole measurement in ms. Default 12,000. */
  budgetMs?: number;
  /** Measurement rounds (candidates interleaved, order rotated). Default 3. */
  rounds?: number;
  /** A candidate within this fraction of the best is preferred when it uses fewer threads. Default 0.03. */
  preferFewerWithin?: number;
  signal?: AbortSignal;
  modelFile?: string;
}

/**
 * Measures prompt and decode speed at each candidate thread count on a loaded
 * model (interleaved rounds, medians) and returns the best count per phase.
 * The model's threads are left at the chosen setting.
 */
export async function calibrateThreads(model: LoadedModel, options: CalibrateOptions = {}): Promise<ThreadTuning> {
  const setThreads = model.setThreads?.bind(model);
  if (!setThreads) throw new Error(`the ${model.info.backend} backend cannot change threads of a loaded model`);
  const started = performance.now();
  const machine = machineIdentity();
  const candidates = [...new Set(options.candidates ?? threadCandidates(machine.cores))].sort((a, b) => a - b);
  const budgetMs = options.budgetMs ?? 12_000;
  const signal = options.signal;

  // Warm-up: pages the weights in and gives a first speed estimate. The fewest
  // threads are the safe estimate: more threads on busy cores can be very slow.
  const most = candidates[candidates.length - 1]!;
  setThreads({ prompt: candidates[0]!, decode: candidates[0]! });
  const warmPrompt = await benchmarkPrompt(model, 16);
  const warm = await timeRequest(model, warmPrompt, 4, { deadlineMs: Math.max(5_000, budgetMs / 2), ...(signal ? { signal } : {}) });
  const promptMsPerToken = Math.max(0.01, warm.timings.promptMs / Math.max(1, warm.timings.promptTokens));
  const decodeMsPerToken = Math.max(0.01, warm.timings.perTokenMs || warm.timings.promptMs);

  const room = Math.max(8, Math.floor(model.info.contextSize / 2));
  // At most a typical chat turn: the best prompt thread count depends on the batch size (on a tiny
  // model 2 threads win at 256 tokens and lose at 128), and `edgelm bench` checks at this length.
  const promptTokens = clamp(Math.round(250 / promptMsPerToken), 16, Math.min(TYPICAL_PROMPT_TOKENS, room));
  const generatedTokens = clamp(Math.round(400 / decodeMsPerToken), 8, 64);
  const expectedMs = promptTokens * promptMsPerToken + generatedTokens * decodeMsPerToken;
  const rounds = clamp(Math.floor(budgetMs / (candidates.length * expectedMs)), 1, options.rounds ?? 3);
  const deadlineMs = 4 * expectedMs + 250;
  const prompt = await benchmarkPrompt(model, promptTokens);

  const results = new Map<number, ThreadCandidateResult>(
    candidates.map((t) => [t, { threads: t, promptTokensPerSecond: null, decodeTokensPerSecond: null, promptSamples: [], decodeSamples: [] }]),
  );
  for (let round = 0; round < rounds; round++) {
    // Rotate and alternate the order so no candidate always runs first (or right after a slow one).
    const rotated = candidates.map((_, i) => candidates[(i + round) % candidates.length]!);
    const order = round % 2 === 1 ? rotated.reverse() : rotated;
    // No candidate is dropped early: one sample taken while another process held a core
    // can be ten times too slow, and must not decide. Slow runs end at their deadline instead.
    for (const t of order) {
      setThreads({ prompt: t, decode: t });
      const run = await timeRequest(model, prompt, generatedTokens, { deadlineMs, ...(signal ? { signal } : {}) });
      const r = results.get(t)!;
      if (run.timings.promptTokensPerSecond > 0) r.promptSamples.push(run.timings.promptTokensPerSecond);
      r.decodeSamples.push(decodeRate(run));
    }
  }
  for (const r of results.values()) {
    r.promptTokensPerSecond = median(r.promptSamples);
    r.decodeTokensPerSecond = median(r.decodeSamples);
  }
  const within = options.preferFewerWithin ?? 0.03;
  const threads: ThreadSetting = {
    prompt: pick([...results.values()], (r) => r.promptTokensPerSecond, within) ?? most,
    decode: pick([...results.values()], (r) => r.decodeTokensPerSecond, within) ?? 1,
  };
  setThreads(threads);
  const file = fileIdentity(options.modelFile ?? model.info.path);
  return {
    threads,
    candidates: [...results.values()],
    promptTokens,
    generatedTokens,
    rounds,
    elapsedMs: Math.round(performance.now() - started),
    measuredAt: new Date().toISOString(),
    machine,
    engineBuild: model.info.engineBuild,
    model: file,
  };
}

/** Decode tokens/s of a run; a run cut off at its deadline counts what it managed in its time. */
export function decodeRate(run: TimedRequest): number {
  const t = run.timings;
  if (t.decodeTokensPerSecond > 0) return t.decodeTokensPerSecond;
  return t.completionTokens > 0 && t.totalMs > 0 ? (t.completionTokens * 1000) / t.totalMs : 0;
}

/** The fewest threads whose median is within `within` of the best median. */
export function pick<T extends { threads: number }>(results: T[], rate: (r: T) => number | null, within: number): number | undefined {
  const rated = results.filter((r) => (rate(r) ?? 0) > 0);
  if (rated.length === 0) return undefined;
  const best = Math.max(...rated.map((r) => rate(r)!));
  return rated.filter((r) => rate(r)! >= best * (1 - within)).sort((a, b) => a.threads - b.threads)[0]!.threads;
}

function clamp(value: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, value));
}

export function fileIdentity(path: string): { path: string; size: number; mtimeMs: number } {
  const real = realpathSync(path);
  const stat = statSync(real);
  return { path: real, size: stat.size, mtimeMs: Math.round(stat.mtimeMs) };
}

/** The cache key: the model file (path, size, mtime), this machine, and the engine build. */
export function tuningKey(modelFile: string, engineBuild: string, machine: MachineIdentity = machineIdentity()): string {
  const file = fileIdentity(modelFile);
  return createHash("sha256").update(JSON.stringify({ file, machine, engineBuild })).digest("hex").slice(0, 32);
}

/** Tuning results per key in one JSON file under EDGELM_HOME/cache. */
export class ThreadTuningCache {
  readonly file: string;

  constructor(home: string) {
    this.file = join(home, "cache", "thread-tuning.json");
  }

  private readAll(): Record<string, ThreadTuning> {
    try {
      const data = JSON.parse(readFileSync(this.file, "utf8")) as { version?: number; entries?: Record<string, ThreadTuning> };
      return data.version === 1 && data.entries && typeof data.entries === "object" ? data.entries : {};
    } catch {
      return {}; // absent or unreadable: measure again
    }
  }

  get(key: string): ThreadTuning | undefined {
    const entry = this.readAll()[key];
    if (!entry || !isThreadSetting(entry.threads)) return undefined;
    return { ...entry, cached: true };
  }

  set(key: string, tuning: ThreadTuning): void {
    const entries = this.readAll();
    const { cached: _cached, ...stored } = tuning;
    entries[key] = stored;
    mkdirSync(dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify({ version: 1, entries }, null, 1)}\n`);
    renameSync(temp, this.file);
  }
}

function isThreadSetting(value: unknown): value is ThreadSetting {
  const v = value as ThreadSetting | undefined;
  return !!v && Number.isInteger(v.prompt) && v.prompt >= 1 && Number.isInteger(v.decode) && v.decode >= 1;
}

export interface ApplyTuningOptions extends CalibrateOptions {
  /** Measure even when a cached result exists (and replace it). */
  retune?: boolean;
  /** Called before a measurement starts (it takes a few seconds on larger models). */
  onMeasure?: () => void;
}

/**
 * Applies the cached thread choice for this model, machine and engine build,
 * measuring (and caching) it first when there is none. Returns undefined when
 * the backend cannot change threads of a loaded model.
 */
export async function applyThreadTuning(model: LoadedModel, home: string, options: ApplyTuningOptions = {}): Promise<ThreadTuning | undefined> {
  if (!model.setThreads || !model.info.threadsPerPhase) return undefined;
  const file = options.modelFile ?? model.info.path;
  const cache = new ThreadTuningCache(home);
  const key = tuningKey(file, model.info.engineBuild);
  if (!options.retune) {
    const hit = cache.get(key);
    if (hit) {
      model.setThreads(hit.threads);
      return hit;
    }
  }
  options.onMeasure?.();
  const tuning = await calibrateThreads(model, { ...options, modelFile: file });
  logger.info(`tuned threads for ${model.info.name}: prompt ${tuning.threads.prompt}, decode ${tuning.threads.decode} (${tuning.elapsedMs} ms)`);
  try {
    cache.set(key, tuning);
  } catch (error) {
    logger.warn(`cannot cache the thread tuning in ${cache.file}: ${(error as Error).message}`);
  }
  return tuning;
}
