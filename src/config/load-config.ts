/**
 * Loads the configuration once: defaults < file < environment < flags.
 * The file is `--config PATH`, else EDGELM_CONFIG, else ./edgelm.yaml, else
 * $EDGELM_HOME/config.yaml (each only if it exists, except an explicit one).
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { EdgeError } from "../errors.js";
import { ENV_BINDINGS } from "./env.js";
import { configSchema, type Config, type ConfigInput } from "./schema.js";

export interface LoadConfigOptions {
  /** Values from command-line flags (highest precedence), shaped like the file. */
  flags?: ConfigInput;
  /** An explicit config file (from --config); it must exist. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface LoadedConfig {
  config: Config;
  /** The file that was read, if any. */
  source: string | undefined;
}

type Plain = Record<string, unknown>;

function isPlain(value: unknown): value is Plain {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep merge where `over` wins; arrays are replaced, not concatenated. */
export function mergeConfig(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    out[key] = isPlain(value) && isPlain(out[key]) ? mergeConfig(out[key] as Plain, value) : value;
  }
  return out;
}

function setPath(target: Plain, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlain(node[key])) node[key] = {};
    node = node[key] as Plain;
  }
  node[path[path.length - 1]!] = value;
}

function fromEnv(env: NodeJS.ProcessEnv): Plain {
  const out: Plain = {};
  for (const binding of ENV_BINDINGS) {
    const raw = env[binding.name];
    if (raw !== undefined && raw !== "") setPath(out, binding.path, binding.parse(raw));
  }
  return out;
}

function defaultHome(env: NodeJS.ProcessEnv): string {
  return env.EDGELM_HOME && env.EDGELM_HOME !== "" ? env.EDGELM_HOME : join(homedir(), ".edgelm");
}

function findConfigFile(options: LoadConfigOptions, env: NodeJS.ProcessEnv): string | undefined {
  if (options.configPath) {
    const path = resolve(options.cwd ?? process.cwd(), options.configPath);
    if (!existsSync(path)) throw new EdgeError("invalid_config", `config file ${path} does not exist`, { param: "--config" });
    return path;
  }
  if (env.EDGELM_CONFIG) {
    const path = resolve(options.cwd ?? process.cwd(), env.EDGELM_CONFIG);
    if (!existsSync(path)) throw new EdgeError("invalid_config", `config file ${path} (from EDGELM_CONFIG) does not exist`);
    return path;
  }
  const local = resolve(options.cwd ?? process.cwd(), "edgelm.yaml");
  if (existsSync(local)) return local;
  const inHome = join(defaultHome(env), "config.yaml");
  return existsSync(inHome) ? inHome : undefined;
}

function readConfigFile(path: string): Plain {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new EdgeError("invalid_config", `cannot read config file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new EdgeError("invalid_config", `${path} is not valid YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlain(parsed)) throw new EdgeError("invalid_config", `${path} must hold a YAML mapping at the top level`);
  return parsed;
}

/** Every problem in a config object, one `path: message` line each (empty when valid). */
export function checkConfig(input: unknown): string[] {
  const result = configSchema.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
    return `${path}: ${issue.message}`;
  });
}

/** Names the environment variable behind a problem, so `EDGELM_X=junk` is not blamed on the file. */
function withEnvSource(problem: string, env: NodeJS.ProcessEnv): string {
  const binding = ENV_BINDINGS.find((b) => env[b.name] !== undefined && env[b.name] !== "" && problem.startsWith(`${b.path.join(".")}`));
  return binding ? `${problem} (from ${binding.name}=${JSON.stringify(env[binding.name])})` : problem;
}

export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const source = findConfigFile(options, env);
  const fileValues = source ? readConfigFile(source) : {};
  const merged = mergeConfig(mergeConfig(fileValues, fromEnv(env)), (options.flags ?? {}) as Plain);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const problems = checkConfig(merged).map((line) => withEnvSource(line, env));
    throw new EdgeError("invalid_config", `invalid configuration${source ? ` (${source})` : ""}:\n  ${problems.join("\n  ")}`, {
      details: { problems },
    });
  }
  const config = { ...result.data, home: result.data.home ?? defaultHome(env) } as Config;
  return { config, source };
}

/**
 * True when EDGELM_DEBUG is set to anything but "": the CLI then prints
 * the stack of an internal error. Read here, before any config exists, because
 * a config that does not load must still be reportable.
 */
export function debugStacksEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.EDGELM_DEBUG;
  return value !== undefined && value !== "";
}
