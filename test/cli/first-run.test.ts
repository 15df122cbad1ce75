/**
 * The first `edgelm run` in a fresh EDGELM_HOME: a one-line status on a
 * terminal while the engine loads and threads are measured (through a real
 * pseudo-terminal, `script`), nothing of it when piped or with --json; and the
 * `prepare` step that npx runs on its first link of this package compiles only
 * when dist/ is older than its sources.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { StatusLine } from "../../src/cli/status-line.js";
import { CLI, REPO_ROOT, runCli, tempHome } from "../helpers.js";

/** Runs a command under a pseudo-terminal; resolves with everything it drew (stdout and stderr together). */
function underTerminal(command: string, env: Record<string, string>): Promise<{ code: number | null; screen: string }> {
  return new Promise((resolve) => {
    const child = spawn("script", ["-qefc", command, "/dev/null"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let screen = "";
    child.stdout.on("data", (d: Buffer) => (screen += d.toString()));
    child.stderr.on("data", (d: Buffer) => (screen += d.toString()));
    child.on("close", (code) => resolve({ code, screen }));
  });
}

class FakeTerminal {
  written = "";
  isTTY = true;
  columns = 40;
  write(text: string): boolean {
    this.written += text;
    return true;
  }
}

describe("first run: status line and build step", () => {
  let home: string;
  let cleanup: () => void;
  before(() => ({ home, cleanup } = tempHome()));
  after(() => cleanup());

  it("StatusLine shows a step that lasts, erases it, truncates to the terminal, and stays silent when disabled or quick", async () => {
    const tty = new FakeTerminal();
    const status = new StatusLine(tty as unknown as NodeJS.WriteStream, true, 20);
    status.set("quick");
    status.clear();
    await sleep(40);
    assert.equal(tty.written, "", "a step shorter than the delay shows nothing");
    status.set("loading stories:260k…");
    await sleep(60);
    assert.equal(tty.written, "\r\x1b[Kloading stories:260k…");
    status.set("x".repeat(100), { now: true });
    assert.ok(String(tty.written as string).endsWith(`\r\x1b[K${"x".repeat(38)}…`));
    status.clear();
    assert.ok(String(tty.written as string).endsWith("\r\x1b[K"));
    const off = new FakeTerminal();
    const silent = new StatusLine(off as unknown as NodeJS.WriteStream, false, 0);
    silent.set("loading", { now: true });
    silent.clear();
    assert.equal(off.written, "");
  });

  it("a fresh EDGELM_HOME on a terminal: the load and the thread measurement are named, then erased; piped or --json: not a byte of it", async () => {
    const env = { EDGELM_HOME: join(home, "fresh") };
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} run "Once upon a time" -n 4 -t 0`;
    const first = await underTerminal(cmd, env);
    assert.equal(first.code, 0, first.screen);
    assert.match(first.screen, /\r\x1b\[Kmeasuring the best thread counts for this model on this machine \(once\)…/);
    assert.match(first.screen, /\r\x1b\[K(?!measuring|loading)/, "the status is erased before the output");
    const json = await underTerminal(`${cmd} --json`, { EDGELM_HOME: join(home, "fresh-json") });
    assert.equal(json.code, 0, json.screen);
    assert.doesNotMatch(json.screen, /\x1b\[K|loading|measuring/);
    assert.ok(JSON.parse(json.screen.slice(json.screen.indexOf("{"))).text.length > 0);
    const piped = await runCli(["run", "Once upon a time", "-n", "4", "-t", "0"], { env: { EDGELM_HOME: join(home, "fresh-piped") } });
    assert.equal(piped.code, 0, piped.stderr);
    assert.doesNotMatch(piped.stderr, /\x1b\[K|loading|measuring/);
  });

  it("prepare compiles only when an input is newer than dist/.build-stamp", () => {
    const root = join(home, "project");
    mkdirSync(join(root, "src"), { recursive: true });
    mkdirSync(join(root, "dist"), { recursive: true });
    writeFileSync(join(root, "tsconfig.json"), "{}");
    writeFileSync(join(root, "src", "a.ts"), "export const a = 1;\n");
    const check = (): string =>
      spawnSync(process.execPath, [join(REPO_ROOT, "scripts", "build-if-stale.mjs"), "--root", root, "--dry-run"], { encoding: "utf8" }).stdout.trim();
    assert.equal(check(), "stale: no dist/.build-stamp (never built here)");
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(root, "tsconfig.json"), past, past);
    utimesSync(join(root, "src", "a.ts"), past, past);
    writeFileSync(join(root, "dist", ".build-stamp"), "built\n");
    assert.equal(check(), "up to date");
    writeFileSync(join(root, "src", "a.ts"), "export const a = 2;\n");
    assert.equal(check(), "stale: src/a.ts is newer than the last build");
    utimesSync(join(root, "src", "a.ts"), past, past);
    writeFileSync(join(root, "tsconfig.json"), '{"compilerOptions":{}}');
    assert.equal(check(), "stale: tsconfig.json is newer than the last build");
  });

  it("npm run build (--force) compiles even when up to date and writes the stamp, so prepare then skips", () => {
    const root = join(home, "forced");
    mkdirSync(join(root, "src"), { recursive: true });
    symlinkSync(join(REPO_ROOT, "node_modules"), join(root, "node_modules"));
    writeFileSync(join(root, "tsconfig.json"), JSON.stringify({ compilerOptions: { outDir: "dist", module: "nodenext", target: "es2022" }, include: ["src"] }));
    writeFileSync(join(root, "src", "a.ts"), "export const a = 1;\n");
    const script = (...flags: string[]) => spawnSync(process.execPath, [join(REPO_ROOT, "scripts", "build-if-stale.mjs"), "--root", root, ...flags], { encoding: "utf8" });
    assert.equal(script().status, 0);
    assert.ok(existsSync(join(root, "dist", "a.js")), "a stale tree is built");
    rmSync(join(root, "dist", "a.js"));
    assert.equal(script().status, 0);
    assert.ok(!existsSync(join(root, "dist", "a.js")), "prepare compiles nothing while up to date");
    const stampBefore = statSync(join(root, "dist", ".build-stamp")).mtimeMs;
    assert.equal(script("--force").status, 0);
    assert.ok(existsSync(join(root, "dist", "a.js")), "--force compiles anyway");
    assert.ok(statSync(join(root, "dist", ".build-stamp")).mtimeMs >= stampBefore);
    assert.equal(script("--dry-run").stdout.trim(), "up to date");
  });
});
