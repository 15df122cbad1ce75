import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { configSchema } from "../../src/config/schema.js";
import { CLI, REPO_ROOT, tempHome } from "../helpers.js";
import { NotifySocket } from "../support/notify-socket.js";

const UNIT_DIR = join(REPO_ROOT, "deploy/systemd");
const UNIT = join(UNIT_DIR, "edgelm.service");
/** The exposure goal of the unit (systemd-analyze security: 0 safest … 10 unsafe). */
const EXPOSURE_GOAL = 2.0;

/** A throwaway root with systemd's own units (targets the unit depends on) and an executable at the ExecStart path. */
function unitRoot(unitText: string): string {
  const root = mkdtempSync(join(tmpdir(), "edgelm-unit-root-"));
  cpSync("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true });
  mkdirSync(join(root, "usr/local/bin"), { recursive: true });
  writeFileSync(join(root, "usr/local/bin/edgelm"), `#!/bin/sh\nexec node ${CLI} "$@"\n`);
  chmodSync(join(root, "usr/local/bin/edgelm"), 0o755);
  mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
  writeFileSync(join(root, "etc/systemd/system/edgelm.service"), unitText);
  return root;
}

describe("systemd unit", () => {
  const roots: string[] = [];
  after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

  it("passes systemd-analyze verify without a single complaint (and a broken copy does not)", () => {
    const text = readFileSync(UNIT, "utf8");
    const good = unitRoot(text);
    roots.push(good);
    const run = spawnSync("systemd-analyze", ["verify", `--root=${good}`, "edgelm.service"], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(`${run.stdout}${run.stderr}`.trim(), "");
    const broken = unitRoot(text.replace(/^NotifyAccess=all$/m, "NotifyAccess=everyone"));
    roots.push(broken);
    const complaint = spawnSync("systemd-analyze", ["verify", `--root=${broken}`, "edgelm.service"], { encoding: "utf8" });
    assert.match(`${complaint.stdout}${complaint.stderr}`, /notify access/i);
  });

  it(`scores an exposure of at most ${EXPOSURE_GOAL} in systemd-analyze security`, () => {
    const run = spawnSync("systemd-analyze", ["security", "--offline=true", "--no-pager", UNIT], { encoding: "utf8" });
    const score = Number(/Overall exposure level for edgelm\.service: ([\d.]+)/.exec(`${run.stdout}${run.stderr}`)?.[1]);
    assert.ok(Number.isFinite(score), `${run.stdout}${run.stderr}`);
    assert.ok(score <= EXPOSURE_GOAL, `exposure ${score}:\n${run.stdout}`);
    for (const option of ["ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "NoNewPrivileges=yes", "Type=notify", "Restart=on-failure", "StateDirectory=edgelm", "User=edgelm"]) {
      assert.match(readFileSync(UNIT, "utf8"), new RegExp(`^${option}$`, "m"));
    }
    assert.match(readFileSync(UNIT, "utf8"), /^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6/m);
    assert.match(readFileSync(UNIT, "utf8"), /^MemoryMax=\S+$/m);
    assert.match(readFileSync(UNIT, "utf8"), /^CPUQuota=\d+%$/m);
  });

  it("gives the graceful stop time to finish before systemd kills (TimeoutStopSec > shutdown grace + runner stop)", () => {
    const stop = Number(/^TimeoutStopSec=(\d+)s$/m.exec(readFileSync(UNIT, "utf8"))?.[1]);
    const grace = configSchema.parse({}).server.shutdown_grace_s;
    const runnerStopS = 5; // ChildProcessRunner / LlamaServerRunner stopTimeoutMs default
    assert.ok(stop > grace + runnerStopS, `TimeoutStopSec=${stop}s, graceful stop takes up to ${grace + runnerStopS} s`);
  });

  it("creates its user and folders with systemd-sysusers and systemd-tmpfiles", () => {
    const root = mkdtempSync(join(tmpdir(), "edgelm-sysusers-root-"));
    roots.push(root);
    mkdirSync(join(root, "etc"));
    const users = spawnSync("systemd-sysusers", [`--root=${root}`, join(UNIT_DIR, "edgelm.sysusers.conf")], { encoding: "utf8" });
    assert.equal(users.status, 0, users.stderr);
    const entry = readFileSync(join(root, "etc/passwd"), "utf8").split("\n").find((l) => l.startsWith("edgelm:"));
    assert.ok(entry, "edgelm is in the new root's /etc/passwd");
    assert.match(entry!, /:\/var\/lib\/edgelm:\/usr\/sbin\/nologin$/);
    const dirs = spawnSync("systemd-tmpfiles", [`--root=${root}`, "--create", join(UNIT_DIR, "edgelm.tmpfiles.conf")], { encoding: "utf8" });
    assert.equal(dirs.status, 0, dirs.stderr);
    const uid = Number(entry!.split(":")[2]);
    const state = spawnSync("stat", ["-c", "%u %a", join(root, "var/lib/edgelm")], { encoding: "utf8" });
    assert.equal(state.stdout.trim(), `${uid} 750`);
  });

  it("edgelm serve says how runners are sandboxed, sends READY=1 once its models are loaded, pings the watchdog and sends STOPPING=1 on SIGTERM", async () => {
    const socket = await NotifySocket.open();
    const { home, cleanup } = tempHome();
    const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "--model", "demo"], {
      cwd: REPO_ROOT,
      env: { ...process.env, EDGELM_HOME: home, EDGELM_LOG_LEVEL: "info", NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: "1000000" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      const ready = await socket.waitFor(/READY=1/, 60_000);
      assert.match(ready, /^STATUS=serving 1 of 1 models on http:\/\/127\.0\.0\.1:\d+$/m);
      assert.match(ready, new RegExp(`^MAINPID=${child.pid}$`, "m"));
      // READY=1 means loaded: /ready already says so.
      const url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1];
      assert.ok(url, stdout);
      assert.equal((await fetch(`${url}/ready`)).status, 200);
      assert.match(stderr, /runner sandbox \(engine\.sandbox\.mode auto\): user: .*network: own empty network namespace.*system calls: seccomp/);
      await socket.waitFor(/^WATCHDOG=1$/, 5000);
      child.kill("SIGTERM");
      await socket.waitFor(/STOPPING=1/, 10_000);
      assert.equal(await exited, 0);
    } finally {
      child.kill("SIGKILL");
      socket.close();
      cleanup();
    }
  });
});
