/** Shared test fixtures: the test model, temp homes, and running the CLI as a user would. */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (tests run from dist/test/). */
export const REPO_ROOT = resolve(fileURLToPath(new URL("../../", import.meta.url)));

/** stories260K: EDGELM_TEST_MODEL, else ../shared/models/stories260K.gguf beside the repository. */
export const TEST_MODEL = process.env.EDGELM_TEST_MODEL ?? resolve(REPO_ROOT, "../shared/models/stories260K.gguf");

export const SHARED_FIXTURES = resolve(REPO_ROOT, "../shared/fixtures");

export const CLI = join(REPO_ROOT, "dist/src/cli/main.js");

/** Asserts a CLI error is one line without a stack trace (user mistakes and refusals never dump traces). */
export function assertOneLine(stderr: string): void {
  const lines = stderr.trim().split("\n").filter((l) => l.length > 0);
  if (lines.length !== 1) throw new Error(`expected one line, got:\n${stderr}`);
  if (/\n\s+at /.test(stderr)) throw new Error(`expected no stack trace, got:\n${stderr}`);
}

/** A fresh EDGELM_HOME, removed by the returned cleanup. */
export function tempHome(): { home: string; cleanup: () => void } {
  const home = mkdtempSync(join(tmpdir(), "edgelm-test-"));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `edgelm <args>` in a child process with a private EDGELM_HOME; stdin is closed (or `input`). */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, EDGELM_LOG_LEVEL: "warn", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`edgelm ${args.join(" ")} did not finish in ${options.timeoutMs ?? 60_000} ms\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/**
 * The llama-server binary the native-backend tests run: EDGELM_TEST_LLAMA_SERVER
 * (`.ci/run` builds one with `edgelm engine build` into a cache outside the clone
 * and sets it), else a finished build in that cache ($HOME/.cache/edgelm-ci).
 * Throws with what to do when there is none: these tests never skip.
 */
export async function testLlamaServer(): Promise<string> {
  const fromEnv = process.env.EDGELM_TEST_LLAMA_SERVER;
  if (fromEnv) return fromEnv;
  const { findBuiltLlamaServer } = await import("../src/engine/engine-build.js");
  const { homedir } = await import("node:os");
  const built = findBuiltLlamaServer(join(homedir(), ".cache", "edgelm-ci"));
  if (built) return built.binary;
  throw new Error(
    "no llama-server for the native-backend tests: run .ci/run, or build one with " +
      "`EDGELM_HOME=$HOME/.cache/edgelm-ci node dist/src/cli/main.js engine build`, or set EDGELM_TEST_LLAMA_SERVER to a llama-server binary",
  );
}

/**
 * llama.cpp's trainer (llama-finetune) the fine-tuning tests run: EDGELM_TEST_TRAINER (`.ci/run` builds it with
 * `edgelm engine build --backend trainer` into the same cache as llama-server and sets it), else a finished
 * build in that cache ($HOME/.cache/edgelm-ci). Throws with what to do when there is none: these tests never skip.
 */
export async function testTrainer(): Promise<string> {
  const fromEnv = process.env.EDGELM_TEST_TRAINER;
  if (fromEnv) return fromEnv;
  const { findTrainer } = await import("../src/engine/trainer-build.js");
  const { homedir } = await import("node:os");
  const built = findTrainer(join(homedir(), ".cache", "edgelm-ci"));
  if (built) return built.binary;
  throw new Error(
    "no trainer for the fine-tuning tests: run .ci/run, or build one with " +
      "`EDGELM_HOME=$HOME/.cache/edgelm-ci node dist/src/cli/main.js engine build --backend trainer`, or set EDGELM_TEST_TRAINER to a llama-finetune binary",
  );
}
