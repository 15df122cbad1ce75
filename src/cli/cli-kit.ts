/**
 * What every command shares: turning errors into one line and an exit code,
 * strict number parsing for flags, and loading the configuration.
 */
import { InvalidArgumentError } from "commander";
import { debugStacksEnabled, loadConfig } from "../config/load-config.js";
import type { Config, ConfigInput } from "../config/schema.js";
import { EdgeError, isEdgeError, toEdgeError } from "../errors.js";
import { setLogFormat, setLogLevel, type LogLevel } from "../log.js";

/** Prints an error as one line (no stack for anything a user can cause) and sets the exit code. */
export function reportCliError(error: unknown): number {
  const edge = isEdgeError(error) ? error : toEdgeError(error);
  const message = edge.message.split("\n").join("\n  ");
  process.stderr.write(`edgelm: ${message}\n`);
  if (edge.code === "internal" && error instanceof Error && debugStacksEnabled()) {
    process.stderr.write(`${error.stack}\n`);
  }
  return edge.exitCode;
}

/** Wraps a command handler so that any failure ends as one line on stderr and a non-zero exit code. */
export function action<A extends unknown[]>(handler: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await handler(...args);
    } catch (error) {
      process.exitCode = reportCliError(error);
    }
  };
}

/** A commander argument parser for integers; `allowMinusOne` accepts -1 (until EOS, as Ollama's num_predict). */
export function integerFlag(flag: string, options: { min?: number; max?: number; allowMinusOne?: boolean } = {}) {
  return (raw: string): number => {
    const text = raw.trim();
    if (!/^-?\d+$/.test(text)) throw new InvalidArgumentError(`${flag} must be an integer (got "${raw}")`);
    const value = Number(text);
    if (options.allowMinusOne && value === -1) return value;
    const min = options.min ?? Number.MIN_SAFE_INTEGER;
    const max = options.max ?? Number.MAX_SAFE_INTEGER;
    if (value < min || value > max) {
      const range = options.max !== undefined ? `between ${min} and ${max}` : `at least ${min}`;
      throw new InvalidArgumentError(`${flag} must be ${range}${options.allowMinusOne ? " (or -1 for no limit)" : ""} (got ${raw})`);
    }
    return value;
  };
}

/** A commander argument parser for finite numbers within a range. */
export function numberFlag(flag: string, options: { min?: number; max?: number } = {}) {
  return (raw: string): number => {
    const value = Number(raw.trim());
    if (raw.trim() === "" || !Number.isFinite(value)) throw new InvalidArgumentError(`${flag} must be a number (got "${raw}")`);
    if (options.min !== undefined && value < options.min) throw new InvalidArgumentError(`${flag} must be at least ${options.min} (got ${raw})`);
    if (options.max !== undefined && value > options.max) throw new InvalidArgumentError(`${flag} must be at most ${options.max} (got ${raw})`);
    return value;
  };
}

/** Collects a repeatable flag into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export interface CommonOptions {
  config?: string;
}

/** Loads the configuration for a command: its flags (shaped like the file) win over env and file. */
export function commandConfig(options: CommonOptions, flags: ConfigInput = {}, defaultLogLevel: LogLevel = "warn"): Config {
  const { config } = loadConfig({ flags, ...(options.config ? { configPath: options.config } : {}) });
  setLogLevel(config.log_level ?? defaultLogLevel);
  setLogFormat(config.log_format);
  return config;
}

export function usageError(message: string, param?: string): EdgeError {
  return new EdgeError("usage", message, param ? { param } : {});
}

/** Reads all of stdin (for a piped prompt). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
