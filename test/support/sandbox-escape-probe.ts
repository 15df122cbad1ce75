/**
 * A test-only runner program that tries what a runner compromised through a
 * malicious model file would try, and reports each attempt as one JSON line
 * `{ "attempt": ..., "ok": boolean, "detail": ... }` on stdout. Run it inside
 * and outside the sandbox: outside every attempt must succeed (the probe
 * works), inside every one must be stopped.
 *   node sandbox-escape-probe.js '{"tcpPort":1234,"keyFile":"…","outsideFile":"…","ownDir":"…"}'
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";

interface ProbeTargets {
  /** A TCP port on 127.0.0.1 the test listens on. */
  tcpPort: number;
  /** A private key under the gateway's $EDGELM_HOME. */
  keyFile: string;
  /** A path outside the runner's folders it must not create. */
  outsideFile: string;
  /** The runner's own writable folder (writing there must keep working), if it has one. */
  ownDir?: string;
}

const targets = JSON.parse(process.argv[2] ?? "{}") as ProbeTargets;

function report(attempt: string, ok: boolean, detail: string): void {
  process.stdout.write(`${JSON.stringify({ attempt, ok, detail })}\n`);
}

function errorText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message}` : String(error);
}

async function tcp(): Promise<void> {
  await new Promise<void>((resolve) => {
    let done = false;
    const settle = (ok: boolean, detail: string): void => {
      if (done) return;
      done = true;
      report("tcp-connect", ok, detail);
      socket.destroy();
      resolve();
    };
    const socket = connect({ host: "127.0.0.1", port: targets.tcpPort, timeout: 3000 });
    socket.once("connect", () => settle(true, `connected to 127.0.0.1:${targets.tcpPort}`));
    socket.once("timeout", () => settle(false, "timed out"));
    socket.on("error", (error) => settle(false, errorText(error)));
  });
}

function attempt(name: string, action: () => string): void {
  try {
    report(name, true, action());
  } catch (error) {
    report(name, false, errorText(error));
  }
}

await tcp();
attempt("write-outside", () => {
  writeFileSync(targets.outsideFile, "escaped\n");
  return `wrote ${targets.outsideFile}`;
});
attempt("read-key", () => `read ${readFileSync(targets.keyFile, "utf8").length} bytes of ${targets.keyFile}`);
attempt("exec-shell", () => {
  const run = spawnSync("/bin/sh", ["-c", "echo escaped"], { encoding: "utf8" });
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`sh exited ${run.status}: ${run.stderr}`);
  return `sh said ${run.stdout.trim()}`;
});
// A call the runner profile does not allow (runners create no folders); the mount allows it in /tmp.
attempt("syscall-outside-profile", () => {
  const dir = join("/tmp", `probe-${process.pid}`);
  mkdirSync(dir);
  rmdirSync(dir);
  return `mkdir ${dir}`;
});
if (targets.ownDir) {
  attempt("write-own-dir", () => {
    writeFileSync(join(targets.ownDir!, "probe"), "ok\n");
    return `wrote ${targets.ownDir}/probe`;
  });
}
