/**
 * A llama-server binary checked before anything depends on it: it runs, says
 * it is llama.cpp's server (`--version`), and knows every flag the runner
 * passes (`--help`). A missing, broken, hanging or too old binary is a clear
 * error naming the path and what is wrong — never a runner that hangs at start.
 */
import { execFile } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { resolve } from "node:path";
import { EdgeError } from "../../errors.js";

export interface LlamaServerBinary {
  /** Absolute path. */
  path: string;
  /** What `--version` says, e.g. "0.4.0-dev (build 1, commit 80fb11a)". */
  version: string;
  /** Whether `--host` accepts a Unix socket path (ending in .sock). */
  unixSocket: boolean;
  /** Every long flag `--help` lists (to pass optional ones only when known). */
  flags: ReadonlySet<string>;
}

/** Flags the runner cannot work without. */
const REQUIRED_FLAGS = [
  "--model",
  "--host",
  "--port",
  "--api-key-file",
  "--ctx-size",
  "--parallel",
  "--threads",
  "--threads-batch",
  "--batch-size",
  "--embeddings",
  "--pooling",
];

const cache = new Map<string, Promise<LlamaServerBinary>>();

/**
 * Checks `path` (cached per path, size and modification time). Rejects with
 * an EdgeError (invalid_config) saying what is wrong; `source` names where the
 * path came from (e.g. "engine.llama_server"). `timeoutMs` bounds each probe (default 15000).
 */
export function inspectLlamaServer(path: string, source = "llama-server", timeoutMs = 15_000): Promise<LlamaServerBinary> {
  const absolute = resolve(path);
  let key: string;
  try {
    const stat = statSync(absolute);
    if (!stat.isFile()) throw new EdgeError("invalid_config", `${source}: ${absolute} is not a file`);
    accessSync(absolute, constants.X_OK);
    key = `${absolute}:${stat.size}:${stat.mtimeMs}`;
  } catch (error) {
    if (error instanceof EdgeError) return Promise.reject(error);
    const code = (error as NodeJS.ErrnoException).code;
    const what = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not executable" : `cannot be used (${code ?? String(error)})`;
    return Promise.reject(new EdgeError("invalid_config", `${source}: ${absolute} ${what}; build one with \`edgelm engine build\` or point ${source} at an installed llama-server`));
  }
  let inspected = cache.get(key);
  if (!inspected) {
    inspected = probe(absolute, source, timeoutMs);
    inspected.catch(() => cache.delete(key));
    cache.set(key, inspected);
  }
  return inspected;
}

async function probe(path: string, source: string, timeoutMs: number): Promise<LlamaServerBinary> {
  const versionOutput = await run(path, ["--version"], source, timeoutMs);
  const version = /version:\s*(.+)/.exec(versionOutput)?.[1]?.trim();
  if (!version) {
    throw new EdgeError("invalid_config", `${source}: ${path} does not look like llama.cpp's server (its --version printed no "version:" line: ${snippet(versionOutput)})`);
  }
  const help = await run(path, ["--help"], source, timeoutMs);
  const flags = new Set(help.match(/--[a-z][a-z0-9-]*/g) ?? []);
  const missing = REQUIRED_FLAGS.filter((f) => !flags.has(f));
  if (missing.length > 0) {
    throw new EdgeError(
      "invalid_config",
      `${source}: ${path} (llama.cpp ${version}) lacks ${missing.join(", ")}, which edgelm needs; use a newer llama-server (\`edgelm engine build\` makes one)`,
    );
  }
  const unixSocket = /UNIX socket/i.test(help);
  return { path, version, unixSocket, flags };
}

function run(path: string, args: string[], source: string, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(path, args, { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 4 << 20, env: sanitizedEnv() }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (!error) return resolvePromise(output);
      const failure = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: unknown };
      if (failure.killed) {
        return reject(new EdgeError("invalid_config", `${source}: ${path} ${args[0]} did not finish within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}; is it a working llama-server?`));
      }
      const how = failure.signal ? `was killed by ${failure.signal}` : typeof failure.code === "number" ? `exited with code ${failure.code}` : failure.message;
      reject(new EdgeError("invalid_config", `${source}: ${path} ${args[0]} ${how}: ${snippet(output)}`));
    });
  });
}

function snippet(text: string): string {
  const line = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .slice(-2)
    .join(" / ");
  return line.length > 0 ? line.slice(0, 200) : "no output";
}

/**
 * The environment for llama-server children: ours minus llama.cpp's own
 * settings (LLAMA_ARG_*, LLAMA_API_KEY...), which would silently change how
 * a runner is configured behind the flags edgelm passes.
 */
export function sanitizedEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) if (!/^LLAMA_/.test(key)) env[key] = value;
  return env;
}
