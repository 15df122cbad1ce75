/**
 * What a served model really keeps resident, per engine and engine.mmap, next
 * to the fit planner's estimate: synthesizes a shape (default 7b Q4_0, a 4.1 GB
 * file), serves it with `edgelm serve` on each engine with mmap auto and on,
 * sends one completion, and reads the runner's VmRSS / RssAnon / RssFile.
 *
 *   node dist/bench/memory-residency.js [--shape 7b] [--type q4_0] [--ctx 1024] [--engine node-llama-cpp|llama-server]
 *
 * llama-server comes from EDGELM_TEST_LLAMA_SERVER or the one `engine build` made in ~/.cache/edgelm-ci.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { findBuiltLlamaServer } from "../src/engine/engine-build.js";
import { configuredResidency } from "../src/engine/weight-residency.js";
import { loadConfig } from "../src/config/load-config.js";
import { writeSyntheticModel } from "../src/gguf/synthetic-model.js";
import { parseSyntheticShape } from "../src/gguf/synthetic-shape.js";
import { servedModelEstimate } from "../src/server/memory-fit.js";
import { integerOption } from "./bench-args.js";
import { startServeProcess } from "./serve-process.js";

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1]! : fallback;
}

function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone
    }
  }
  const all: number[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      all.push(c);
      walk(c);
    }
  };
  walk(pid);
  return all;
}

function memory(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") };
}

const shape = option("--shape", "7b");
const type = option("--type", "q4_0");
const ctx = integerOption("--ctx", 1024);
const engines = process.argv.includes("--engine") ? [option("--engine", "node-llama-cpp")] : ["node-llama-cpp", "llama-server"];
const dir = mkdtempSync(join(tmpdir(), "edgelm-residency-"));
const model = join(dir, `${shape}-${type}.gguf`);
const gb = (bytes: number): string => (bytes / 1e9).toFixed(2);
try {
  await writeSyntheticModel(model, { shape: parseSyntheticShape(shape), type: type as Parameters<typeof writeSyntheticModel>[1]["type"] });
  const llamaServer = process.env.EDGELM_TEST_LLAMA_SERVER ?? findBuiltLlamaServer(join(homedir(), ".cache/edgelm-ci"))?.binary;
  console.log(`${shape} ${type}, ${gb(Number(execFileSync("stat", ["-c", "%s", model], { encoding: "utf8" })))} GB file, ctx ${ctx} × 1 sequence`);
  console.log("| engine | engine.mmap | file | estimate GB | VmRSS GB | anon GB | file pages GB | estimate vs VmRSS |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const backend of engines) {
    if (backend === "llama-server" && (!llamaServer || !existsSync(llamaServer))) {
      console.log(`| llama-server | - | no binary (set EDGELM_TEST_LLAMA_SERVER) | | | | | |`);
      continue;
    }
    for (const mmap of ["auto", "on"] as const) {
      const home = mkdtempSync(join(tmpdir(), "edgelm-residency-home-"));
      const env = { EDGELM_ENGINE: backend, EDGELM_MMAP: mmap, EDGELM_TUNE_THREADS: "0", ...(backend === "llama-server" ? { EDGELM_LLAMA_SERVER: llamaServer! } : {}) };
      Object.assign(process.env, env);
      const { config } = loadConfig({ env: { ...process.env, EDGELM_HOME: home } });
      const residency = configuredResidency(config, backend as "node-llama-cpp" | "llama-server");
      const estimate = servedModelEstimate(model, { name: "bench", ref: model, parallel: 1, runners: 1, contextSize: ctx }, residency);
      const server = await startServeProcess(model, home, ["--ctx", String(ctx), "--parallel", "1", "--threads", "2"]);
      try {
        const reply = await fetch(`${server.url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "bench", prompt: "Once upon a time", max_tokens: 4 }),
        });
        await reply.text();
        const runner = [server.runnerPid, ...descendants(server.runnerPid)].map((pid) => ({ pid, ...memory(pid) })).sort((a, b) => b.rss - a.rss)[0]!;
        const mapped = readFileSync(`/proc/${runner.pid}/maps`, "utf8").includes(model);
        const error = ((estimate - runner.rss) / runner.rss) * 100;
        console.log(`| ${backend} | ${mmap} | ${mapped ? "mapped" : "read"} | ${gb(estimate)} | ${gb(runner.rss)} | ${gb(runner.anon)} | ${gb(runner.file)} | ${error >= 0 ? "+" : ""}${error.toFixed(1)}% |`);
      } finally {
        server.child.kill("SIGTERM");
        await new Promise((r) => server.child.once("exit", r));
        rmSync(home, { recursive: true, force: true });
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
