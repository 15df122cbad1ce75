/**
 * `edgelm bench [model]`: the edge benchmark table — load time, time to first
 * token, per-token latency, throughput, peak memory, power and energy per token
 * (where the machine exposes a reading) — at the tuned thread setting, compared
 * with each fixed thread count in interleaved rounds.
 */
import { InvalidArgumentError, type Command } from "commander";
import { benchmarkModel, tuningFromBenchmark, type BenchmarkReport, type ThreadChoiceSource } from "../engine/model-benchmark.js";
import { openResolvedModel } from "../engine/open-model.js";
import { machineIdentity, threadCandidates, ThreadTuningCache, tuningKey, type ThreadTuning } from "../engine/thread-tuning.js";
import type { ThreadSetting } from "../engine/types.js";
import { DEMO_NOTICE, resolveModel } from "../store/resolve-model.js";
import { terminalProgress } from "./progress-bar.js";
import { action, commandConfig, integerFlag } from "./cli-kit.js";
import { formatBytes, formatCount, printTable } from "./format.js";
import { addModelFlags, engineFlags, threadTuningNotice, type ModelFlagValues } from "./model-flags.js";

interface BenchFlags extends ModelFlagValues {
  promptTokens?: number;
  genTokens?: number;
  rounds?: number;
  threadCounts?: number[];
  retune?: boolean;
  json?: boolean;
}

function threadList(raw: string): number[] {
  const parts = raw.split(",").map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 1024)) {
    throw new InvalidArgumentError(`--thread-counts must be a comma-separated list of thread counts from 1 to 1024 (got "${raw}")`);
  }
  return parts.map(Number);
}

export function registerBench(program: Command): void {
  const command = program
    .command("bench")
    .description("benchmark a model on this machine: latency, throughput, memory, energy; tuned threads vs fixed counts")
    .argument("[model]", "model reference (default: the built-in demo model)")
    .option("-p, --prompt-tokens <n>", "prompt length in tokens (default 128)", integerFlag("--prompt-tokens", { min: 1, max: 1 << 16 }))
    .option("-n, --gen-tokens <n>", "tokens generated per run (default 64)", integerFlag("--gen-tokens", { min: 2, max: 1 << 16 }))
    .option("-r, --rounds <n>", "rounds of interleaved runs (default 3)", integerFlag("--rounds", { min: 1, max: 1000 }))
    .option("--thread-counts <list>", "fixed thread counts to compare with, e.g. 1,2,4 (default: 1 up to all cores)", threadList)
    .option("--retune", "measure the thread choice again instead of using the cached one")
    .option("--json", "print the report as JSON");
  addModelFlags(command);
  command.action(action(benchCommand));
}

async function benchCommand(modelArg: string | undefined, flags: BenchFlags): Promise<void> {
  const config = commandConfig(flags, engineFlags(flags));
  const progress = terminalProgress();
  const resolved = await resolveModel(flags.model ?? modelArg, config, {
    ...(progress ? { progress } : {}),
  });
  if (resolved.source === "demo") process.stderr.write(`${DEMO_NOTICE}\n`);
  const tty = process.stderr.isTTY === true && !flags.json;
  const { model, loadMs, threadTuning } = await openResolvedModel(resolved, config, {
    parallel: 1,
    ...(flags.retune ? { retuneThreads: true } : {}),
    ...threadTuningNotice(tty),
  });
  try {
    const source: ThreadChoiceSource = config.engine.threads
      ? "configured"
      : threadTuning
        ? threadTuning.cached
          ? "cached"
          : "measured"
        : "default";
    const report = await benchmarkModel(model, {
      threads: { ...model.info.threads },
      threadSource: source,
      threadCounts: flags.threadCounts ?? threadCandidates(machineIdentity().cores),
      ...(flags.promptTokens !== undefined ? { promptTokens: flags.promptTokens } : {}),
      ...(flags.genTokens !== undefined ? { generatedTokens: flags.genTokens } : {}),
      ...(flags.rounds !== undefined ? { rounds: flags.rounds } : {}),
      sysfsRoot: config.sysfs_root,
      ...(tty ? { onProgress: (done: number, total: number) => process.stderr.write(`\r  run ${done}/${total}${done === total ? "\n" : ""}`) } : {}),
    });
    // The benchmark measured longer than the first calibration: when it disagrees, it wins.
    let retuned: ThreadSetting | null = null;
    if (report.tunedVsBestFixed.within5Percent === false && (source === "measured" || source === "cached")) {
      const tuning = tuningFromBenchmark(report, resolved.path);
      if (tuning) {
        new ThreadTuningCache(config.home).set(tuningKey(resolved.path, model.info.engineBuild), tuning);
        retuned = tuning.threads;
      }
    }
    const full = { ...report, loadMs: Math.round(loadMs), threadTuning: threadTuning ?? null, retuned };
    if (flags.json) process.stdout.write(`${JSON.stringify(full, null, 2)}\n`);
    else printReport(full, config.sysfs_root);
  } finally {
    await model.dispose();
  }
}

const fixed1 = (v: number | null, unit = ""): string => (v === null ? "n/a" : `${v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(1)}${unit}`);
const ms = (v: number | null): string => (v === null ? "n/a" : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v >= 10 ? v.toFixed(1) : v.toFixed(2)} ms`);
const pair = (t: { prompt: number; decode: number }): string => `${t.prompt}/${t.decode}`;

function printReport(report: BenchmarkReport & { loadMs: number; threadTuning: ThreadTuning | null; retuned: ThreadSetting | null }, sysfsRoot: string): void {
  const out = process.stdout;
  const t = report.tuned;
  out.write(`${report.model.name}  (${report.model.path})\n\n`);
  printTable(out, [
    ["model", `${report.model.quantization} · ${formatCount(report.model.parameters)} parameters · ${formatBytes(report.model.fileSize)}`],
    ["engine", `${report.engine.build}${report.engine.threadsPerPhase ? "" : " (one thread count for both phases)"}`],
    ["machine", `${report.machine.cpu} · ${report.machine.cores} cores`],
    ["workload", `${report.workload.promptTokens}-token prompt, ${report.workload.generatedTokens} generated tokens, ${report.workload.rounds} interleaved rounds`],
    ["threads (prompt/decode)", `${pair(t.threads)} (${t.source})`],
  ]);
  out.write(`\nat ${pair(t.threads)} threads\n`);
  const power = report.power;
  const noPower = `n/a (no RAPL, hwmon or battery power reading under ${sysfsRoot})`;
  printTable(out, [
    ["model load", ms(report.loadMs)],
    ["time to first token", `p50 ${ms(t.timeToFirstTokenMs.p50)} · p95 ${ms(t.timeToFirstTokenMs.p95)}`],
    ["per-token latency", `p50 ${ms(t.perTokenMs.p50)} · p95 ${ms(t.perTokenMs.p95)}`],
    ["decode", `${fixed1(t.decodeTokensPerSecond)} tokens/s`],
    ["prompt processing", `${fixed1(t.promptTokensPerSecond)} tokens/s`],
    ["tokens/min (whole requests)", fixed1(t.tokensPerMinute)],
    ["peak RSS", formatBytes(report.peakRssBytes)],
    ["power", power ? `${power.averageWatts.toFixed(2)} W (${power.source})` : noPower],
    ["energy per token", power ? `${(power.joulesPerToken * 1000).toFixed(3)} mJ` : "n/a"],
  ]);
  if (report.fixed.length > 0) {
    out.write(`\nthread settings (medians of interleaved runs)\n`);
    const rows = [["setting", "threads", "decode tok/s", "prompt tok/s", "TTFT p50", "per-token p50"]];
    for (const r of [t, ...report.fixed.filter((f) => f.label !== t.label)]) {
      rows.push([r.label, pair(r.threads), fixed1(r.decodeTokensPerSecond), fixed1(r.promptTokensPerSecond), ms(r.timeToFirstTokenMs.p50), ms(r.perTokenMs.p50)]);
    }
    printTable(out, rows);
    const v = report.tunedVsBestFixed;
    const threads = (n: number): string => `${n} thread${n === 1 ? "" : "s"}`;
    const bd = report.bestFixed.decode;
    const bp = report.bestFixed.prompt;
    out.write(
      `\n  tuned vs best fixed: decode ${v.decode === null ? "n/a" : `${v.decode.toFixed(2)}x`} (best: ${bd ? threads(bd.threads) : "n/a"}), ` +
        `prompt ${v.prompt === null ? "n/a" : `${v.prompt.toFixed(2)}x`} (best: ${bp ? threads(bp.threads) : "n/a"}) — ` +
        `${v.within5Percent === null ? "n/a" : v.within5Percent ? "within 5%" : "NOT within 5%"}\n`,
    );
    if (report.retuned) {
      out.write(`  the cached thread choice for this model is now ${pair(report.retuned)} (from these measurements)\n`);
    }
  }
}
