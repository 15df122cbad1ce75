/**
 * `edgelm engine build`: engines compiled on the device from the llama.cpp
 * source node-llama-cpp ships (no download). Two kinds:
 * - llama-server (the native runner backend) into EDGELM_HOME/engines/llama.cpp-<commit>/,
 *   with OpenMP and an explicit instruction-set list: the ones that really
 *   execute here (cpu-isa-probe.ts), stepped down to safer sets while the
 *   build crashes its smoke test (engine-smoke-test.ts);
 * - node-llama-cpp itself (opt-in; the prebuilt binaries stay the default until
 *   one exists): the same probed instruction sets and smoke-test ladder, plus a
 *   persistent ggml thread pool, see local-build-profile.ts.
 * And what is built or installed (`edgelm engine list`).
 *
 * (Over 350 lines: both builds walk the same steps — probe, configure, build,
 * smoke test, step down, record — and share them here; the probe, the ISA
 * options, the smoke test and the source handling are their own modules.)
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { arch, platform } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EdgeError } from "../errors.js";
import { checkBuildTools, cloneLlamaCpp, cmakeBuild, llamaCppBundleCommit, nodeLlamaCppDirectory, runCommand } from "./llama-cpp-source.js";
import { describeIsaProbe, probeCpuIsa, type IsaProbeResult } from "./cpu-isa-probe.js";
import { cachedSmokeResult, describeSmokeFailure, edgelmRunSmokeLoad, llamaServerSmokeLoad, smokeTest, type SmokeResult } from "./engine-smoke-test.js";
import { describeIsaSet, isaCmakeOptions, saferIsaSets } from "./isa-cmake-options.js";
import { portableIsa } from "./portable-isa.js";
import { findLocalNodeLlamaCppBuild, localBuildCmakeOptions, localNodeLlamaCppBuilds, PERSISTENT_THREADPOOL_PATCH } from "./local-build-profile.js";
import { pruneLocalBuild } from "./local-build-prune.js";

export type EngineKind = "llama-server" | "node-llama-cpp";

export interface EngineBuildOptions {
  backend: EngineKind;
  /** EDGELM_HOME. */
  home: string;
  /** Parallel compile jobs for llama-server (default 2); node-llama-cpp picks its own (one per core up to 4). */
  jobs?: number;
  /** Build llama-server again even when a finished build for this llama.cpp commit exists. Default false. */
  rebuild?: boolean;
  /**
   * Build llama-server for a baseline instruction set (portable-isa.ts) instead of this CPU's, into its own
   * folder (llama.cpp-<commit>-portable), for binaries that run elsewhere (the container image). Default false.
   */
  portable?: boolean;
  /** Keep the llama.cpp source and object files after a llama-server build (for rebuilding by hand). Default false. */
  keepSources?: boolean;
  /** Each line of compiler output (for a progress display). */
  onLine?: (line: string) => void;
  /** What the build is doing beyond compiling: the probe's findings, smoke tests, a step down to safer instruction sets. */
  onStatus?: (line: string) => void;
  signal?: AbortSignal;
}

export interface EngineBuildResult {
  backend: EngineKind;
  /** The llama-server binary, or node-llama-cpp's build folder. */
  path: string;
  description: string;
  seconds: number;
  /** True when a finished build that passes the smoke test was there already (nothing was compiled). */
  alreadyBuilt?: boolean;
}

const CLI = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/** Builds an engine; throws an EdgeError naming a missing tool before any work starts. */
export async function buildEngine(options: EngineBuildOptions): Promise<EngineBuildResult> {
  const started = performance.now();
  const built = options.backend === "llama-server" ? await buildLlamaServer(options) : await buildNodeLlamaCpp(options);
  return { ...built, backend: options.backend, seconds: Math.round((performance.now() - started) / 1000) };
}

/** Where `engine build` puts llama-server for the bundled llama.cpp commit. */
export function llamaServerBuildDirectory(home: string, commit = llamaCppBundleCommit(), portable = false): string {
  return join(home, "engines", `llama.cpp-${commit.slice(0, 12)}${portable ? "-portable" : ""}`);
}

/**
 * CMake options for llama-server on the device: OpenMP (a persistent thread
 * pool: no thread creation per token), one static binary, nothing that needs
 * the network (no web UI download, no HTTPS, no curl). The instruction sets
 * come from the probe (isa-cmake-options.ts), never from `-march=native`.
 */
export const LLAMA_SERVER_CMAKE_OPTIONS: Readonly<Record<string, string>> = {
  GGML_OPENMP: "ON",
  GGML_CCACHE: "OFF",
  BUILD_SHARED_LIBS: "OFF",
  LLAMA_CURL: "OFF",
  LLAMA_OPENSSL: "OFF",
  LLAMA_BUILD_TESTS: "OFF",
  LLAMA_BUILD_EXAMPLES: "OFF",
  LLAMA_BUILD_TOOLS: "ON",
  LLAMA_BUILD_SERVER: "ON",
  LLAMA_BUILD_UI: "OFF",
  LLAMA_USE_PREBUILT_UI: "OFF",
};

/** The instruction sets a build uses and why (engine.json; absent in builds made before they were probed). */
export interface IsaChoice {
  /** "x86_64", "aarch64", ... */
  arch: string;
  /** The CPU it was chosen on. */
  cpu: string;
  /** Feature names (cpu-isa-probe.ts); empty: no native flags. */
  features: string[];
  /** Set for a portable build (`--portable`): the baseline it targets instead of this CPU's sets. */
  portable?: string;
  /** What the probe found for each feature. */
  probe: IsaProbeResult[];
  /** One line: the probe's findings, and the smoke-test crashes that stepped the set down. */
  why: string;
}

/** What engine.json in a llama-server build folder records (written last: a folder without it is unfinished). */
export interface LlamaServerBuildRecord {
  backend: "llama-server";
  binary: string;
  commit: string;
  version: string;
  openmp: boolean;
  cmakeOptions: Record<string, string>;
  /** Absent in a build made before edgelm probed instruction sets (a `-march=native` build, smoke-tested on first use). */
  isa?: IsaChoice;
  builtAt: string;
  seconds: number;
}

async function buildLlamaServer(options: EngineBuildOptions): Promise<{ path: string; description: string; alreadyBuilt?: boolean }> {
  const commit = llamaCppBundleCommit();
  const dir = llamaServerBuildDirectory(options.home, commit, options.portable === true);
  const record = readLlamaServerBuild(dir);
  const status = options.onStatus ?? ((): void => undefined);
  const smokeOptions = { home: options.home, ...(options.signal ? { signal: options.signal } : {}) };
  if (record && !options.rebuild) {
    const smoke = await smokeTest(record.binary, llamaServerSmokeLoad(record.binary), smokeOptions);
    if (smoke.ok) return { path: record.binary, description: `${describeLlamaServerBuild(record)}; smoke test passed on this CPU`, alreadyBuilt: true };
    status(`the llama-server built before does not run here: ${describeSmokeFailure(smoke.failure!)}; building it again`);
  }
  checkBuildTools();
  const started = performance.now();
  const run = { ...(options.onLine ? { onLine: options.onLine } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  rmSync(join(dir, "engine.json"), { force: true });
  const probe = await probeCpuIsa();
  status(`instruction sets on this CPU (${probe.cpu}): ${describeIsaSet(probe.usable)} execute; ${describeIsaProbe(probe)}`);
  await cloneLlamaCpp(join(dir, "src"), run);
  const buildDir = join(dir, "build");
  const built = join(buildDir, "bin", "llama-server");
  // A portable build (for binaries that run on other CPUs, e.g. the container image) has one baseline set.
  const portable = options.portable ? portableIsa() : undefined;
  const sets = portable ? [[]] : saferIsaSets(probe.usable, probe.arch);
  const ladder = await firstSetThatRuns(sets, status, async (features) => {
    const cmakeOptions = { ...LLAMA_SERVER_CMAKE_OPTIONS, ...(portable ? portable.cmakeOptions : isaCmakeOptions(features, probe.arch)) };
    // A step down reconfigures the same build folder: only ggml's CPU backend compiles again.
    await cmakeBuild({ ...run, sourceDir: join(dir, "src"), buildDir, targets: ["llama-server"], cmakeOptions, jobs: options.jobs ?? 2 });
    const version = spawnSync(built, ["--version"], { encoding: "utf8", timeout: 30_000 });
    if (version.status !== 0) throw new EdgeError("internal", `the new llama-server does not run: ${(version.stderr || version.stdout || "").trim()}`);
    const smoke = await smokeTest(built, llamaServerSmokeLoad(built), smokeOptions);
    return { smoke, value: { cmakeOptions, version } };
  });
  if (!ladder.passed) throw new EdgeError("internal", `no llama-server build runs on this CPU (${probe.cpu}), down to no native flags: ${ladder.crashes.join("; ")}`);
  const { features, crashes, value: { cmakeOptions, version } } = ladder.passed;
  // OpenMP is asked for; whether CMake found it (libgomp comes with g++) is in its cache.
  const openmp = /^GGML_OPENMP_ENABLED:INTERNAL=ON$/m.test(readFileSync(join(buildDir, "CMakeCache.txt"), "utf8"));
  // Keep the one static binary; the source and object files (about 300 MB) are not needed to run it.
  const binary = join(dir, "bin", "llama-server");
  mkdirSync(dirname(binary), { recursive: true });
  copyFileSync(built, binary);
  chmodSync(binary, 0o755);
  if (!options.keepSources) {
    rmSync(join(dir, "src"), { recursive: true, force: true });
    rmSync(buildDir, { recursive: true, force: true });
  }
  const probeWhy = portable ? `portable build: ${portable.label}` : describeIsaProbe(probe);
  const done: LlamaServerBuildRecord = {
    backend: "llama-server",
    binary,
    commit,
    version: /version:\s*(.+)/.exec(`${version.stdout}${version.stderr}`)?.[1]?.trim() ?? firstLine(`${version.stdout}${version.stderr}`),
    openmp,
    cmakeOptions,
    isa: { arch: probe.arch, cpu: probe.cpu, features, ...(portable ? { portable: portable.label } : {}), probe: probe.results, why: ladderWhy(probeWhy, crashes) },
    builtAt: new Date().toISOString(),
    seconds: Math.round((performance.now() - started) / 1000),
  };
  writeFileSync(join(dir, "engine.json"), `${JSON.stringify(done, null, 2)}\n`);
  return { path: binary, description: describeLlamaServerBuild(done) };
}

/** Why a build has its instruction sets: the probe's verdict, then the smoke tests that crashed on the way down. */
function ladderWhy(probeWhy: string, crashes: readonly string[]): string {
  return crashes.length > 0 ? `${probeWhy}; smoke test crashed with ${crashes.join("; ")}` : probeWhy;
}

/**
 * The step-down ladder both engine builds climb down: builds with each
 * instruction-set list in turn (safest last) until one passes its smoke test,
 * saying which crashed and what comes next. `attempt` builds one and smoke-tests
 * it; a build that crashed is the attempt's to clean up. Gives the list that
 * ran with the crashes before it, or only the crashes when none ran.
 */
export async function firstSetThatRuns<T>(
  sets: readonly string[][],
  status: (line: string) => void,
  attempt: (features: string[]) => Promise<{ smoke: SmokeResult; value: T }>,
): Promise<{ passed?: { features: string[]; crashes: string[]; value: T }; crashes: string[] }> {
  const crashes: string[] = [];
  for (const [step, features] of sets.entries()) {
    status(`building with ${describeIsaSet(features)}, then a smoke test`);
    const { smoke, value } = await attempt(features);
    if (smoke.ok) return { passed: { features, crashes, value }, crashes };
    const crash = `${describeIsaSet(features)}: ${describeSmokeFailure(smoke.failure!)}`;
    crashes.push(crash);
    if (step + 1 < sets.length) status(`${crash}; building again with ${describeIsaSet(sets[step + 1]!)}`);
  }
  return { crashes };
}

function firstLine(text: string): string {
  return text.split("\n").map((l) => l.trim()).find((l) => l.length > 0) ?? "";
}

/** The finished build recorded in `dir`/engine.json, if there is one and its binary exists. */
export function readLlamaServerBuild(dir: string): LlamaServerBuildRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(join(dir, "engine.json"), "utf8")) as LlamaServerBuildRecord;
    if (record.backend !== "llama-server" || typeof record.binary !== "string" || !existsSync(record.binary)) return undefined;
    return record;
  } catch {
    return undefined;
  }
}

/** One line: commit, instruction sets (and why), OpenMP. */
export function describeLlamaServerBuild(record: LlamaServerBuildRecord): string {
  return `llama-server, llama.cpp ${record.commit.slice(0, 12)} (${describeBuildIsa(record.isa)}, ${record.openmp ? "OpenMP" : "no OpenMP: libgomp was not found"})`;
}

/** "ISA avx2 fma … (why)", or what a build made before probing used. */
export function describeBuildIsa(isa: IsaChoice | undefined): string {
  if (!isa) return "-march=native, built before instruction sets were probed";
  if (isa.portable) return `portable ISA ${isa.portable}`;
  return `ISA ${describeIsaSet(isa.features)} — ${isa.why}`;
}

/**
 * The newest finished llama-server build under EDGELM_HOME/engines: the one for
 * the bundled llama.cpp commit when it exists, else the most recently built.
 */
export function findBuiltLlamaServer(home: string): LlamaServerBuildRecord | undefined {
  const engines = join(home, "engines");
  let dirs: string[];
  try {
    dirs = readdirSync(engines).filter((d) => d.startsWith("llama.cpp-"));
  } catch {
    return undefined;
  }
  const records = dirs.map((d) => readLlamaServerBuild(join(engines, d))).filter((r): r is LlamaServerBuildRecord => r !== undefined);
  let bundled: string | undefined;
  try {
    bundled = llamaCppBundleCommit();
  } catch {
    bundled = undefined;
  }
  return records.find((r) => r.commit === bundled) ?? records.sort((a, b) => b.builtAt.localeCompare(a.builtAt))[0];
}

/** What EDGELM_HOME/engines/node-llama-cpp-local.json records about the last node-llama-cpp build. */
export interface NodeLlamaCppBuildRecord {
  backend: "node-llama-cpp";
  folder: string;
  cmakeOptions: Record<string, string>;
  isa: IsaChoice;
  builtAt: string;
  seconds: number;
}

/** The record of the node-llama-cpp build in `folder`, when edgelm made it (older builds have no isa). */
export function readNodeLlamaCppBuild(home: string, folder: string): Partial<NodeLlamaCppBuildRecord> | undefined {
  try {
    const record = JSON.parse(readFileSync(join(home, "engines", "node-llama-cpp-local.json"), "utf8")) as Partial<NodeLlamaCppBuildRecord>;
    return record.folder === folder ? record : undefined;
  } catch {
    return undefined;
  }
}

async function buildNodeLlamaCpp(options: EngineBuildOptions): Promise<{ path: string; description: string }> {
  checkBuildTools();
  const started = performance.now();
  const status = options.onStatus ?? ((): void => undefined);
  const nlc = nodeLlamaCppDirectory();
  const cli = join(nlc, "dist", "cli", "cli.js");
  const run = { ...(options.onLine ? { onLine: options.onLine } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "false", CI: "false" };
  // Custom options (and nothing else) name the build folder: drop any the user's environment sets.
  for (const key of Object.keys(baseEnv)) if (key.startsWith("NODE_LLAMA_CPP_CMAKE_OPTION_")) delete baseEnv[key];
  const probe = await probeCpuIsa();
  status(`instruction sets on this CPU (${probe.cpu}): ${describeIsaSet(probe.usable)} execute; ${describeIsaProbe(probe)}`);
  // 1. node-llama-cpp clones its bundled llama.cpp source (offline) into its own build workspace.
  await runCommand(process.execPath, [cli, "source", "download", "--gpu", "false", "--skipBuild", "--noUsageExample"], { ...run, env: baseEnv });
  // 2. our patch: a persistent thread pool per context.
  const source = join(nlc, "llama", "llama.cpp");
  try {
    await runCommand("git", ["apply", "--check", PERSISTENT_THREADPOOL_PATCH], { cwd: source });
  } catch {
    throw new EdgeError("unsupported", `the persistent-thread-pool patch does not apply to this llama.cpp source (${source}); node-llama-cpp was upgraded?`);
  }
  await runCommand("git", ["apply", PERSISTENT_THREADPOOL_PATCH], { ...run, cwd: source });
  // Earlier edgelm builds (other instruction sets) would compete with the new one under engine.node_llama_cpp_build: auto.
  for (const old of localNodeLlamaCppBuilds({ finished: false })) rmSync(old.folder, { recursive: true, force: true });
  const ladder = await firstSetThatRuns(saferIsaSets(probe.usable, probe.arch), status, async (features) => {
    const cmakeOptions = localBuildCmakeOptions(features, probe.arch);
    const env = { ...baseEnv };
    for (const [key, value] of Object.entries(cmakeOptions)) env[`NODE_LLAMA_CPP_CMAKE_OPTION_${key}`] = value;
    // 3. compile (node-llama-cpp's own build, with our CMake options).
    await runCommand(process.execPath, [cli, "source", "build", "--gpu", "false", "--noUsageExample"], { ...run, env });
    const build = localNodeLlamaCppBuilds({ finished: true }).find((b) => sameOptions(b.cmakeOptions, cmakeOptions));
    if (!build) throw new EdgeError("internal", "node-llama-cpp reported success but its build folder is missing");
    // 4. the smoke test: every weight type the quantizer writes, each in a child `edgelm run` (a crash takes only it down).
    const smoke = await smokeTest(build.addon, edgelmRunSmokeLoad(CLI, { ...process.env, EDGELM_NODE_LLAMA_CPP_BUILD: "local", EDGELM_HOME: options.home }), {
      home: options.home,
      force: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!smoke.ok) rmSync(build.folder, { recursive: true, force: true });
    return { smoke, value: { cmakeOptions, build } };
  });
  if (!ladder.passed) throw new EdgeError("internal", `no node-llama-cpp build runs on this CPU (${probe.cpu}), down to no native flags: ${ladder.crashes.join("; ")}`);
  const { features, crashes, value: { cmakeOptions, build } } = ladder.passed;
  const probeWhy = describeIsaProbe(probe);
  const record: NodeLlamaCppBuildRecord = {
    backend: "node-llama-cpp",
    folder: build.folder,
    cmakeOptions,
    isa: { arch: probe.arch, cpu: probe.cpu, features, probe: probe.results, why: ladderWhy(probeWhy, crashes) },
    builtAt: new Date().toISOString(),
    seconds: Math.round((performance.now() - started) / 1000),
  };
  mkdirSync(join(options.home, "engines"), { recursive: true });
  writeFileSync(join(options.home, "engines", "node-llama-cpp-local.json"), `${JSON.stringify(record, null, 2)}\n`);
  // 5. keep only what the build runs with (the clone's grammars and .git, the addon): ~200 MB of sources and objects go.
  const pruned = pruneLocalBuild(source, build.folder);
  options.onLine?.(`removed ${pruned.removed.length} entries of sources and build objects (${Math.round(pruned.freedBytes / 1e6)} MB) the build does not run with`);
  return { path: build.folder, description: `node-llama-cpp local build, ${describeBuildIsa(record.isa)}` };
}

function sameOptions(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => a[k] === b[k]);
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
  const localRecord = local ? readNodeLlamaCppBuild(home, local.folder) : undefined;
  const localSmoke = local ? cachedSmokeResult(local.addon, home) : undefined;
  const localIsa = localRecord?.isa ? describeBuildIsa(localRecord.isa) : local ? `${describeOptions(local.cmakeOptions)}; built before edgelm probed instruction sets` : "";
  entries.push({
    backend: "node-llama-cpp",
    kind: "local build",
    description: local
      ? `node-llama-cpp ${version} built on this device (${localIsa}); ${!localSmoke ? "not smoke-tested on this CPU yet (it is before first use)" : localSmoke.ok ? "smoke test passed on this CPU" : `fails on this CPU: ${describeSmokeFailure(localSmoke.failure!)}`}`
      : `node-llama-cpp ${version} built on this device (none yet: \`edgelm engine build --backend node-llama-cpp\`)`,
    path: local?.folder ?? null,
    available: local !== undefined && localSmoke?.ok !== false,
  });
  const engines = join(home, "engines");
  let dirs: string[] = [];
  try {
    dirs = readdirSync(engines).filter((d) => d.startsWith("llama.cpp-"));
  } catch {
    // none built
  }
  for (const dir of dirs.sort()) {
    const record = readLlamaServerBuild(join(engines, dir));
    const smoke = record ? cachedSmokeResult(record.binary, home) : undefined;
    const checked = !smoke ? "not smoke-tested on this CPU yet (it is before first use)" : smoke.ok ? "smoke test passed on this CPU" : `fails on this CPU: ${describeSmokeFailure(smoke.failure!)}`;
    entries.push(
      record
        ? { backend: "llama-server", kind: "built", description: `${describeLlamaServerBuild(record)}; ${checked}`, path: record.binary, available: smoke?.ok !== false }
        : { backend: "llama-server", kind: "unfinished build", description: `llama-server, ${dir} (no engine.json: the build did not finish; run \`edgelm engine build\` again)`, path: null, available: false },
    );
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
