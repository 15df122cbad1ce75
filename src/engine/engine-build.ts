/**
 * `edgelm engine build`: engines compiled on the device from the llama.cpp
 * source node-llama-cpp ships (no download). Two kinds:
 * - llama-server (the native runner backend) into EDGELM_HOME/engines/llama.cpp-<commit>/,
 *   with native CPU flags and OpenMP;
 * - node-llama-cpp itself (opt-in; the prebuilt binaries stay the default until
 *   one exists): native flags plus a persistent ggml thread pool, see local-build-profile.ts.
 * And what is built or installed (`edgelm engine list`).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { arch, platform } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EdgeError } from "../errors.js";
import { checkBuildTools, cloneLlamaCpp, cmakeBuild, llamaCppBundleCommit, nodeLlamaCppDirectory, runCommand } from "./llama-cpp-source.js";
import { findLocalNodeLlamaCppBuild, LOCAL_BUILD_CMAKE_OPTIONS, PERSISTENT_THREADPOOL_PATCH } from "./local-build-profile.js";

export type EngineKind = "llama-server" | "node-llama-cpp";

export interface EngineBuildOptions {
  backend: EngineKind;
  /** EDGELM_HOME. */
  home: string;
  /** Parallel compile jobs for llama-server (default 2); node-llama-cpp picks its own (one per core up to 4). */
  jobs?: number;
  /** Each line of compiler output (for a progress display). */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
}

export interface EngineBuildResult {
  backend: EngineKind;
  /** The llama-server binary, or node-llama-cpp's build folder. */
  path: string;
  description: string;
  seconds: number;
}

const CLI = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/** Builds an engine; throws an EdgeError naming a missing tool before any work starts. */
export async function buildEngine(options: EngineBuildOptions): Promise<EngineBuildResult> {
  checkBuildTools();
  const started = performance.now();
  const built = options.backend === "llama-server" ? await buildLlamaServer(options) : await buildNodeLlamaCpp(options);
  return { ...built, backend: options.backend, seconds: Math.round((performance.now() - started) / 1000) };
}

/** Where `engine build` puts llama-server for the bundled llama.cpp commit. */
export function llamaServerBuildDirectory(home: string, commit = llamaCppBundleCommit()): string {
  return join(home, "engines", `llama.cpp-${commit.slice(0, 12)}`);
}

async function buildLlamaServer(options: EngineBuildOptions): Promise<{ path: string; description: string }> {
  const commit = llamaCppBundleCommit();
  const dir = llamaServerBuildDirectory(options.home, commit);
  const run = { ...(options.onLine ? { onLine: options.onLine } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  await cloneLlamaCpp(join(dir, "src"), run);
  const cmakeOptions = { GGML_NATIVE: "ON", LLAMA_CURL: "OFF", LLAMA_BUILD_TESTS: "OFF", LLAMA_BUILD_EXAMPLES: "OFF" };
  await cmakeBuild({ ...run, sourceDir: join(dir, "src"), buildDir: join(dir, "build"), targets: ["llama-server"], cmakeOptions, jobs: options.jobs ?? 2 });
  const binary = join(dir, "build", "bin", "llama-server");
  const version = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 30_000 });
  if (version.status !== 0) throw new EdgeError("internal", `the new llama-server does not run: ${(version.stderr || version.stdout || "").trim()}`);
  const description = `llama-server, llama.cpp ${commit.slice(0, 12)} (native, OpenMP)`;
  writeFileSync(join(dir, "engine.json"), `${JSON.stringify({ backend: "llama-server", binary, commit, cmakeOptions, builtAt: new Date().toISOString() }, null, 2)}\n`);
  return { path: binary, description };
}

async function buildNodeLlamaCpp(options: EngineBuildOptions): Promise<{ path: string; description: string }> {
  const nlc = nodeLlamaCppDirectory();
  const cli = join(nlc, "dist", "cli", "cli.js");
  const run = { ...(options.onLine ? { onLine: options.onLine } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "false", CI: "false" };
  // Custom options (and nothing else) name the build folder: drop any the user's environment sets.
  for (const key of Object.keys(env)) if (key.startsWith("NODE_LLAMA_CPP_CMAKE_OPTION_")) delete env[key];
  for (const [key, value] of Object.entries(LOCAL_BUILD_CMAKE_OPTIONS)) env[`NODE_LLAMA_CPP_CMAKE_OPTION_${key}`] = value;
  // 1. node-llama-cpp clones its bundled llama.cpp source (offline) into its own build workspace.
  await runCommand(process.execPath, [cli, "source", "download", "--gpu", "false", "--skipBuild", "--noUsageExample"], { ...run, env });
  // 2. our patch: a persistent thread pool per context.
  const source = join(nlc, "llama", "llama.cpp");
  try {
    await runCommand("git", ["apply", "--check", PERSISTENT_THREADPOOL_PATCH], { cwd: source });
  } catch {
    throw new EdgeError("unsupported", `the persistent-thread-pool patch does not apply to this llama.cpp source (${source}); node-llama-cpp was upgraded?`);
  }
  await runCommand("git", ["apply", PERSISTENT_THREADPOOL_PATCH], { ...run, cwd: source });
  // 3. compile (node-llama-cpp's own build, with our CMake options).
  await runCommand(process.execPath, [cli, "source", "build", "--gpu", "false", "--noUsageExample"], { ...run, env });
  // 4. prove it loads and generates, in a child process (a broken binary must not take this one down).
  const check = spawnSync(process.execPath, [CLI, "run", "Once upon a time", "-n", "4", "--seed", "1"], {
    env: { ...process.env, EDGELM_NODE_LLAMA_CPP_BUILD: "local", EDGELM_TUNE_THREADS: "0", EDGELM_HOME: options.home },
    encoding: "utf8",
    timeout: 120_000,
  });
  if (check.status !== 0) throw new EdgeError("internal", `the new node-llama-cpp build does not run: ${(check.stderr || "").trim().split("\n").pop()}`);
  const build = findLocalNodeLlamaCppBuild();
  if (!build) throw new EdgeError("internal", "node-llama-cpp reported success but its build folder is missing");
  mkdirSync(join(options.home, "engines"), { recursive: true });
  writeFileSync(
    join(options.home, "engines", "node-llama-cpp-local.json"),
    `${JSON.stringify({ backend: "node-llama-cpp", folder: build.folder, cmakeOptions: LOCAL_BUILD_CMAKE_OPTIONS, builtAt: new Date().toISOString() }, null, 2)}\n`,
  );
  return { path: build.folder, description: `node-llama-cpp local build (${describeOptions(LOCAL_BUILD_CMAKE_OPTIONS)})` };
}

function describeOptions(options: Readonly<Record<string, string>>): string {
  return Object.entries(options)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
}

export interface EngineEntry {
  backend: EngineKind;
  /** "prebuilt", "local build", "built", "configured". */
  kind: string;
  description: string;
  path: string | null;
  available: boolean;
}

/** What engines this installation and EDGELM_HOME hold (a cheap look at files; nothing is loaded). */
export function listEngines(home: string, configuredLlamaServer?: string): EngineEntry[] {
  const entries: EngineEntry[] = [];
  const nlc = nodeLlamaCppDirectory();
  let version = "?";
  try {
    version = (JSON.parse(readFileSync(join(nlc, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    // keep "?"
  }
  const prebuilt = join(nlc, "..", "@node-llama-cpp", `${platform() === "win32" ? "win" : platform() === "darwin" ? "mac" : platform()}-${arch()}`);
  entries.push({
    backend: "node-llama-cpp",
    kind: "prebuilt",
    description: `node-llama-cpp ${version} prebuilt binaries`,
    path: existsSync(prebuilt) ? prebuilt : null,
    available: existsSync(prebuilt),
  });
  const local = findLocalNodeLlamaCppBuild();
  entries.push({
    backend: "node-llama-cpp",
    kind: "local build",
    description: `node-llama-cpp ${version} built on this device (${describeOptions(LOCAL_BUILD_CMAKE_OPTIONS)})`,
    path: local?.folder ?? null,
    available: local !== undefined,
  });
  const engines = join(home, "engines");
  let dirs: string[] = [];
  try {
    dirs = readdirSync(engines).filter((d) => d.startsWith("llama.cpp-"));
  } catch {
    // none built
  }
  for (const dir of dirs.sort()) {
    const binary = join(engines, dir, "build", "bin", "llama-server");
    entries.push({ backend: "llama-server", kind: "built", description: `llama-server, ${dir}`, path: binary, available: existsSync(binary) });
  }
  if (configuredLlamaServer) {
    entries.push({
      backend: "llama-server",
      kind: "configured",
      description: "llama-server from engine.llama_server",
      path: configuredLlamaServer,
      available: existsSync(configuredLlamaServer),
    });
  }
  return entries;
}
