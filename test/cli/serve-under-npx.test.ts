/**
 * `npx edgelm serve &` then `kill $!` (the README's pattern): the kill reaches
 * npm, not the gateway; the gateway must notice that its launcher is gone,
 * shut down gracefully and free its port. Run for real through a shell and
 * npx (with a private npm cache and no lifecycle scripts, so the test neither
 * touches the user's npx cache nor rebuilds dist/ while other tests run).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { launcherProcesses, stillRunning, watchLauncher } from "../../src/launcher-watch.js";
import { REPO_ROOT, tempHome } from "../helpers.js";

function parentOf(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** Processes descended from `root` whose command line contains `needle`. */
function descendants(root: number, needle: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue;
    }
    if (!cmdline.includes(needle)) continue;
    for (let p: number | undefined = parentOf(pid), hops = 0; p !== undefined && p > 1 && hops < 8; p = parentOf(p), hops++) {
      if (p === root) {
        found.push(pid);
        break;
      }
    }
  }
  return found;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("the gateway follows its launcher", () => {
  let home: string;
  let cleanup: () => void;
  before(() => ({ home, cleanup } = tempHome()));
  after(() => cleanup());

  it("watches npm's shell and npm only when npm started the process; a process that is gone (or whose pid was reused) is not running", async () => {
    assert.deepEqual(launcherProcesses({}), []);
    const watched = launcherProcesses({ npm_lifecycle_event: "npx" });
    assert.equal(watched[0]?.pid, process.ppid);
    assert.ok(watched.every((p) => p.pid > 1 && stillRunning(p)));
    const child = spawn("sleep", ["30"]);
    const [entry] = launcherProcesses({ npm_lifecycle_event: "npx" }, child.pid!);
    assert.equal(entry?.pid, child.pid);
    assert.ok(stillRunning(entry!));
    assert.equal(stillRunning({ pid: child.pid!, startTime: "1" }), false, "same pid, another start time: another process");
    let called = 0;
    const stop = watchLauncher([entry!], () => called++, { intervalMs: 20 });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    for (let i = 0; i < 100 && called === 0; i++) await sleep(20);
    stop();
    assert.equal(called, 1);
    assert.equal(stillRunning(entry!), false);
  });

  it("`npx edgelm serve &` then `kill $!`: the gateway shuts down gracefully and frees its port", { timeout: 240_000 }, async () => {
    const env = {
      ...process.env,
      EDGELM_HOME: join(home, "edgelm"),
      npm_config_cache: join(home, "npm-cache"),
      npm_config_ignore_scripts: "true",
      npm_config_update_notifier: "false",
      npm_config_yes: "true",
    };
    const shell = spawn("bash", ["-c", 'npx edgelm serve --port 0 --host 127.0.0.1 --threads 1 > "$LOG" 2>&1 & echo "npx=$!"; wait'], {
      cwd: REPO_ROOT,
      env: { ...env, LOG: join(home, "serve.log") },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    shell.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const log = (): string => {
      try {
        return readFileSync(join(home, "serve.log"), "utf8");
      } catch {
        return "";
      }
    };
    let port: number | undefined;
    for (let i = 0; i < 900 && port === undefined; i++) {
      port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log())?.[1]) || undefined;
      if (port === undefined) await sleep(200);
    }
    assert.ok(port, `the gateway did not start:\n${log()}`);
    const npx = Number(/npx=(\d+)/.exec(out)?.[1]);
    assert.ok(npx > 0, out);
    const [gateway] = descendants(npx, "edgelm serve --port 0");
    assert.ok(gateway !== undefined && gateway !== npx, "the gateway is a separate process below npx");
    assert.equal(await portIsFree(port), false);

    process.kill(npx, "SIGTERM"); // what `kill $!` does
    for (let i = 0; i < 300 && alive(gateway); i++) await sleep(100);
    const outlived = alive(gateway);
    if (outlived) process.kill(gateway, "SIGKILL"); // leave no orphan behind a failing test
    assert.equal(outlived, false, `the gateway (pid ${gateway}) outlived npx:\n${log()}`);
    assert.equal(await portIsFree(port), true, "the port is free again");
    assert.match(log(), /the process that started the gateway \(npm, pid \d+\) exited/);
    assert.match(log(), /edgelm gateway stopped/);
    await new Promise((resolve) => (shell.exitCode !== null ? resolve(null) : shell.once("exit", resolve)));
  });
});
