/**
 * The llama.cpp source edgelm builds engines from: the git bundle node-llama-cpp
 * ships (node_modules/node-llama-cpp/llama/gitRelease.bundle, the exact source
 * of its binaries), so no download is needed. Cloning it and building CMake
 * targets from it, with the build tools checked first.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EdgeError } from "../errors.js";
import { runCommandOutput, type CommandOutputOptions } from "./command-output.js";

/** node-llama-cpp's package folder (resolved, not imported: only the backend imports it). */
export function nodeLlamaCppDirectory(): string {
  return join(dirname(fileURLToPath(import.meta.resolve("node-llama-cpp"))), "..");
}

export function llamaCppBundlePath(): string {
  return join(nodeLlamaCppDirectory(), "llama", "gitRelease.bundle");
}

/** The commit the bundle holds (its HEAD). */
export function llamaCppBundleCommit(bundle = llamaCppBundlePath()): string {
  if (!existsSync(bundle)) throw new EdgeError("file_not_found", `the llama.cpp source bundle is missing: ${bundle} (reinstall with npm ci)`);
  const heads = spawnSync("git", ["bundle", "list-heads", bundle], { encoding: "utf8" });
  const sha = /^([0-9a-f]{40})\s+HEAD$/m.exec(heads.stdout ?? "")?.[1] ?? /^([0-9a-f]{40})\s/m.exec(heads.stdout ?? "")?.[1];
  if (heads.status !== 0 || !sha) throw new EdgeError("io_error", `cannot read the llama.cpp source bundle ${bundle}: ${(heads.stderr ?? "").trim()}`);
  return sha;
}

/** A tool the build needs, and the Debian / Raspberry Pi OS package that provides it. */
const BUILD_TOOLS: Array<{ command: string; args: string[]; name: string; debian: string }> = [
  { command: "git", args: ["--version"], name: "git", debian: "git" },
  { command: "cmake", args: ["--version"], name: "cmake", debian: "cmake" },
  { command: "c++", args: ["--version"], name: "a C++ compiler (c++)", debian: "g++" },
  { command: "make", args: ["--version"], name: "make", debian: "make" },
];

/** Throws a clear error naming the first missing build tool and the package that provides it. */
export function checkBuildTools(env: NodeJS.ProcessEnv = process.env): void {
  for (const tool of BUILD_TOOLS) {
    const probe = spawnSync(tool.command, tool.args, { env, stdio: "ignore" });
    if (probe.error || probe.status !== 0) {
      throw new EdgeError(
        "unsupported",
        `building an engine needs ${tool.name}, which was not found on PATH; install it (Debian / Raspberry Pi OS: sudo apt-get install ${tool.debian})`,
      );
    }
  }
}

/** How a build step runs: folder, environment, each output line, cancellation. */
export type RunOptions = Pick<CommandOutputOptions, "cwd" | "env" | "onLine" | "signal">;

/** Runs a command without a shell; rejects with the last lines of its output when it fails. */
export async function runCommand(command: string, args: string[], options: RunOptions = {}): Promise<void> {
  const exit = await runCommandOutput(command, args, options);
  if (exit.code === 0) return;
  throw new EdgeError("internal", `${command} ${args.slice(0, 3).join(" ")} failed (${exit.signal ?? `exit code ${exit.code}`}):\n${exit.tail.slice(-8).join("\n")}`);
}

/** Clones the bundle into `dir` (replacing anything there) at its HEAD commit. */
export async function cloneLlamaCpp(dir: string, options: RunOptions = {}): Promise<string> {
  const bundle = llamaCppBundlePath();
  const commit = llamaCppBundleCommit(bundle);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  await runCommand("git", ["clone", "--quiet", bundle, dir], options);
  await runCommand("git", ["-c", "advice.detachedHead=false", "checkout", "--quiet", commit], { ...options, cwd: dir });
  return commit;
}

export interface CmakeBuildOptions extends RunOptions {
  sourceDir: string;
  buildDir: string;
  targets: string[];
  /** -D options, e.g. { GGML_OPENMP: "OFF" }. */
  cmakeOptions: Record<string, string>;
  /** Parallel compile jobs. Default: 2. */
  jobs?: number;
}

/** Configures and builds CMake targets (Release). */
export async function cmakeBuild(options: CmakeBuildOptions): Promise<void> {
  const defines = Object.entries({ CMAKE_BUILD_TYPE: "Release", ...options.cmakeOptions }).map(([k, v]) => `-D${k}=${v}`);
  await runCommand("cmake", ["-S", options.sourceDir, "-B", options.buildDir, ...defines], options);
  await runCommand("cmake", ["--build", options.buildDir, "-j", String(options.jobs ?? 2), "--target", ...options.targets], options);
}
