/**
 * The smoke test every engine binary passes on this machine before edgelm
 * uses it: load a tiny synthetic model of every weight type the quantizer
 * writes (F16, Q8_0, Q6_K, Q5_1, Q5_0, Q4_K, Q4_1, Q4_0; norms are F32 in
 * each), process a short prompt and generate a few tokens. The shape is small
 * (well under a second per model) but has the row sizes ggml's specialised
 * kernels (AMX, AVX-512 repacking) accept, so a binary built with an
 * instruction set this CPU cannot execute crashes here instead of under a
 * user's request. Each load runs in a child process.
 *
 * Results are cached per binary (its SHA-256) and CPU (model name and flags)
 * in EDGELM_HOME/cache/engine-smoke.json: a binary copied to another machine,
 * or built before this test existed, is tested again when first used there.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import { EdgeError } from "../errors.js";
import { SYNTHETIC_TYPES, writeSyntheticModel, type SyntheticType } from "../gguf/synthetic-model.js";
import { parseSyntheticShape } from "../gguf/synthetic-shape.js";
import { readCpuFlags } from "./cpu-isa-probe.js";
import { inspectLlamaServer } from "./llama-server/llama-server-binary.js";
import { LlamaServerHttpError, LlamaServerProcess } from "./llama-server/llama-server-process.js";
import { describeExit } from "./runner-lifecycle.js";
import { EMPTY_CHAT_PARSER } from "./llama-server/llama-server-runner.js";

/** The synthetic shape the smoke test loads: dimensions that are multiples of 256 (K-quant blocks, AMX tiles). */
export const SMOKE_SHAPE = "embd=256,layers=1,heads=4,kv=4,ffn=512,vocab=320,ctx=256";
/** Bumped when the test itself changes, so earlier passes are not trusted. */
const SMOKE_VERSION = 1;
/** Tokens generated per model. */
const SMOKE_TOKENS = 4;
const SMOKE_PROMPT = "Once upon a time";

export interface SmokeFailure {
  /** The weight type whose model crashed or failed, e.g. "q8_0". */
  type: string;
  message: string;
  /** The signal that killed the engine (SIGILL, SIGSEGV, ...), when one did. */
  signal?: string;
}

export interface SmokeResult {
  ok: boolean;
  /** The types tested (in order; a failure stops the test). */
  types: string[];
  failure?: SmokeFailure;
  seconds: number;
  checkedAt: string;
  /** True when this result came from the cache. */
  cached?: boolean;
}

/** Loads `modelPath`, processes a prompt, generates a few tokens; rejects (with a signal when it crashed) otherwise. */
export type SmokeLoad = (modelPath: string, type: string, signal?: AbortSignal) => Promise<void>;

export interface SmokeOptions {
  /** EDGELM_HOME: the models and the cache live under its cache/ folder. */
  home: string;
  /** Test again even when a cached result exists. Default false. */
  force?: boolean;
  /** Called before each model is loaded. */
  onModel?: (type: string) => void;
  signal?: AbortSignal;
}

/** A crash of the engine process: the signals that mean "this instruction (or memory access) is not allowed here". */
export function isCrashSignal(signal: string | undefined): boolean {
  return signal === "SIGILL" || signal === "SIGSEGV" || signal === "SIGBUS" || signal === "SIGFPE" || signal === "SIGABRT";
}

/** One line naming what crashed, e.g. "the Q8_0 model crashed the engine (SIGILL at load): …". */
export function describeSmokeFailure(failure: SmokeFailure): string {
  const what = `the ${failure.type.toUpperCase()} smoke-test model`;
  if (failure.signal && isCrashSignal(failure.signal)) {
    return `${what} crashed it (${failure.signal}): an instruction set it was built with probably does not execute on this CPU (${failure.message})`;
  }
  return `${what} failed: ${failure.message}`;
}

/** This CPU as the cache sees it: its model name and a hash of its advertised flags. */
export function cpuIdentity(): string {
  const flags = [...readCpuFlags()].sort().join(" ");
  return `${cpus()[0]?.model.trim() || "unknown"} [${createHash("sha256").update(flags).digest("hex").slice(0, 12)}]`;
}

/** Smoke-test results by binary and CPU, in EDGELM_HOME/cache/engine-smoke.json. */
export class EngineSmokeCache {
  readonly file: string;

  constructor(home: string) {
    this.file = join(home, "cache", "engine-smoke.json");
  }

  /** The key of a binary (its bytes: a static llama-server is about 10 MB, hashed in tens of ms) on this CPU. */
  key(binary: string): string {
    return `v${SMOKE_VERSION}:${createHash("sha256").update(readFileSync(binary)).digest("hex")}:${cpuIdentity()}`;
  }

  get(key: string): SmokeResult | undefined {
    return this.readAll()[key];
  }

  set(key: string, result: SmokeResult): void {
    const all = this.readAll();
    all[key] = { ...result, cached: false };
    mkdirSync(join(this.file, ".."), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(all, null, 2)}\n`);
    renameSync(temp, this.file);
  }

  private readAll(): Record<string, SmokeResult> {
    try {
      return JSON.parse(readFileSync(this.file, "utf8")) as Record<string, SmokeResult>;
    } catch {
      return {};
    }
  }
}

/** The cached result for `binary` on this CPU, if it was tested here (nothing is run). */
export function cachedSmokeResult(binary: string, home: string): SmokeResult | undefined {
  try {
    const cache = new EngineSmokeCache(home);
    return cache.get(cache.key(binary));
  } catch {
    return undefined;
  }
}

/** The smoke-test models, written once under EDGELM_HOME/cache/smoke-models (a few hundred KB each). */
export async function smokeModels(home: string): Promise<Array<{ type: SyntheticType; path: string }>> {
  const dir = join(home, "cache", "smoke-models");
  mkdirSync(dir, { recursive: true });
  const shape = parseSyntheticShape(SMOKE_SHAPE);
  const models: Array<{ type: SyntheticType; path: string }> = [];
  for (const type of SYNTHETIC_TYPES) {
    const path = join(dir, `smoke-v${SMOKE_VERSION}-${type}.gguf`);
    if (!existsSync(path)) await writeSyntheticModel(path, { shape, type, seed: 1 });
    models.push({ type, path });
  }
  return models;
}

/**
 * Runs `load` on every smoke model, stopping at the first failure; cached per
 * `binary` (whose bytes identify the engine) and CPU unless `force`.
 */
export async function smokeTest(binary: string, load: SmokeLoad, options: SmokeOptions): Promise<SmokeResult> {
  const cache = new EngineSmokeCache(options.home);
  const key = cache.key(binary);
  const known = options.force ? undefined : cache.get(key);
  if (known) return { ...known, cached: true };
  const started = performance.now();
  const models = await smokeModels(options.home);
  const types: string[] = [];
  let failure: SmokeFailure | undefined;
  for (const model of models) {
    if (options.signal?.aborted) throw new EdgeError("aborted", "the smoke test was cancelled");
    options.onModel?.(model.type);
    types.push(model.type);
    try {
      await load(model.path, model.type, options.signal);
    } catch (error) {
      if (error instanceof EdgeError && error.code === "aborted") throw error;
      const signal = (error as { details?: { signal?: unknown } }).details?.signal;
      failure = { type: model.type, message: (error as Error).message, ...(typeof signal === "string" ? { signal } : {}) };
      break;
    }
  }
  const result: SmokeResult = {
    ok: failure === undefined,
    types,
    ...(failure ? { failure } : {}),
    seconds: Math.round((performance.now() - started) / 100) / 10,
    checkedAt: new Date().toISOString(),
  };
  cache.set(key, result);
  return { ...result, cached: false };
}

/** The smoke load for a llama-server binary: one child per model, a prompt and a few tokens over its HTTP API. */
export function llamaServerSmokeLoad(binaryPath: string): SmokeLoad {
  return async (modelPath, _type, signal) => {
    const binary = await inspectLlamaServer(binaryPath, "llama-server");
    const threads = Math.min(2, availableParallelism());
    const server = new LlamaServerProcess({
      binary,
      launch: { modelPath, contextSize: 256, parallel: 1, threads: { decode: threads, prompt: threads }, batchSize: 64 },
      label: "smoke test",
      logLevel: "error",
      startTimeoutMs: 60_000,
    });
    const crashed = (): EdgeError | undefined =>
      server.exit?.signal ? new EdgeError("model_load_failed", `llama-server ${describeExit(server.exit)}: ${server.lastLines || "no output"}`, { details: { signal: server.exit.signal } }) : undefined;
    try {
      try {
        await server.start(signal);
      } catch (error) {
        throw crashed() ?? error;
      }
      try {
        type Answer = { content?: unknown; tokens_predicted?: unknown };
        const body = { prompt: SMOKE_PROMPT, n_predict: SMOKE_TOKENS, ignore_eos: true, temperature: 0, cache_prompt: false };
        const within = signal ?? AbortSignal.timeout(60_000);
        // Random weights write arbitrary bytes: a chat parser that accepts any text, where the build knows one.
        const answer = await server.call<Answer>("POST", "/completion", { ...body, ...EMPTY_CHAT_PARSER }, within).catch((error: unknown) => {
          if (error instanceof LlamaServerHttpError && error.status === 400) return server.call<Answer>("POST", "/completion", body, within);
          throw error;
        });
        if (typeof answer.content !== "string" || answer.tokens_predicted !== SMOKE_TOKENS) {
          throw new EdgeError("internal", `llama-server answered without ${SMOKE_TOKENS} tokens (${JSON.stringify(answer).slice(0, 120)})`);
        }
      } catch (error) {
        // A crash mid-request shows as a dropped connection; the exit says what happened.
        await Promise.race([server.exited, new Promise((r) => setTimeout(r, 500))]);
        throw crashed() ?? error;
      }
    } finally {
      await server.stop(5000);
    }
  };
}

/**
 * The smoke load for a node-llama-cpp build: `edgelm run` on the model in a
 * child process with the given environment (e.g. EDGELM_NODE_LLAMA_CPP_BUILD=local).
 */
export function edgelmRunSmokeLoad(cli: string, env: NodeJS.ProcessEnv): SmokeLoad {
  return (modelPath, _type, signal) =>
    new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [cli, "run", "-m", modelPath, SMOKE_PROMPT, "-n", String(SMOKE_TOKENS), "--seed", "1", "--engine", "node-llama-cpp"],
        { env: { ...env, EDGELM_TUNE_THREADS: "0" }, timeout: 120_000, killSignal: "SIGKILL", encoding: "utf8", ...(signal ? { signal } : {}) },
        (error, _stdout, stderr) => {
          if (!error) return resolve();
          const failure = error as NodeJS.ErrnoException & { signal?: string | null };
          const last = `${stderr}`.trim().split("\n").slice(-2).join(" / ").slice(0, 300) || "no output";
          reject(new EdgeError("model_load_failed", `edgelm run ${failure.signal ? `was killed by ${failure.signal}` : `exited with code ${String(failure.code)}`}: ${last}`, failure.signal ? { details: { signal: failure.signal } } : {}));
        },
      );
    });
}
