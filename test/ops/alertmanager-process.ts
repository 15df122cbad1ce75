/**
 * A real Prometheus Alertmanager (Debian's prometheus-alertmanager) started on
 * 127.0.0.1 with a temp config and storage dir, for alert delivery tests.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function findAlertmanager(): string {
  for (const name of ["prometheus-alertmanager", "alertmanager"]) {
    if (spawnSync("sh", ["-c", `command -v ${name}`]).status === 0) return name;
  }
  throw new Error("Alertmanager is not installed: apt-get install prometheus-alertmanager (listed in .ci/run)");
}

import { freePort } from "../../src/free-port.js";

export interface ApiAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

export class AlertmanagerProcess {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly log: () => string,
  ) {}

  static async start(): Promise<AlertmanagerProcess> {
    const binary = findAlertmanager();
    const dir = mkdtempSync(join(tmpdir(), "edgelm-am-"));
    writeFileSync(join(dir, "alertmanager.yml"), 'route:\n  receiver: "null"\n  group_wait: 1s\nreceivers:\n  - name: "null"\n');
    const port = await freePort();
    const child = spawn(
      binary,
      [
        `--config.file=${join(dir, "alertmanager.yml")}`,
        `--storage.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--cluster.listen-address=",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const am = new AlertmanagerProcess(`http://127.0.0.1:${port}`, child, dir, () => output);
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`alertmanager exited ${child.exitCode}: ${output}`);
      try {
        if ((await fetch(`${am.url}/-/ready`)).ok) return am;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await am.stop();
        throw new Error(`alertmanager did not become ready: ${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Alerts Alertmanager holds as active (not resolved), from its v2 API. */
  async alerts(): Promise<ApiAlert[]> {
    const response = await fetch(`${this.url}/api/v2/alerts`);
    if (!response.ok) throw new Error(`GET /api/v2/alerts: ${response.status}: ${this.log()}`);
    return (await response.json()) as ApiAlert[];
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once("exit", r));
      this.child.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
