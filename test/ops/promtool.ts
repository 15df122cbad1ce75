/** Runs Prometheus's promtool (Debian package `prometheus`, listed in .ci/run) and returns its output. */
import { spawnSync } from "node:child_process";

export function promtool(args: string[], input?: string, cwd?: string): { code: number | null; output: string } {
  const result = spawnSync("promtool", args, { input, cwd, encoding: "utf8", timeout: 60_000 });
  if (result.error) throw new Error(`promtool could not run (apt-get install prometheus): ${result.error.message}`);
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}
