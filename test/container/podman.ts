/** podman for the container tests, with the repository's containers.conf (deploy/container/containers.conf). */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers.js";

export const CONTAINERS_CONF = join(REPO_ROOT, "deploy/container/containers.conf");

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs podman (or a script that calls it) and returns its output; never throws on a non-zero exit. */
export function podman(args: string[], options: { timeoutMs?: number; command?: string } = {}): PodmanResult {
  const result = spawnSync(options.command ?? "podman", args, {
    cwd: REPO_ROOT,
    env: { ...process.env, CONTAINERS_CONF },
    encoding: "utf8",
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: result.status ?? -1, stdout: result.stdout ?? "", stderr: `${result.stderr ?? ""}${result.error ? String(result.error) : ""}` };
}
