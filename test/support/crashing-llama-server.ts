/**
 * A stand-in for a llama-server built with instructions this CPU cannot run: it answers
 * --version and --help like llama.cpp's server (so every check before a load passes), then
 * dies of SIGILL as soon as it is asked to load a model — what an AMX build does in a VM that
 * does not pass tiles through. The real crash cannot happen on CPUs without AMX flags.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

const FLAGS = "--model --host --port --api-key-file --ctx-size --parallel --threads --threads-batch --batch-size --embeddings --pooling";

/** Writes the script to `path` (made executable) and returns the path. */
export function writeCrashingLlamaServer(path: string, signal: "ILL" | "SEGV" = "ILL"): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(
    path,
    `#!/bin/sh\ncase "$1" in\n  --version) echo "version: 9999 (crashing stand-in)"; exit 0 ;;\n  --help) echo "${FLAGS}"; exit 0 ;;\nesac\nkill -${signal} $$\n`,
  );
  chmodSync(path, 0o755);
  return path;
}
