#!/usr/bin/env node
/**
 * The `prepare` step: compile with tsc only when dist/ is older than its
 * sources. npm runs `prepare` after `npm ci` and also every time npx links
 * this package into its cache (the first `npx edgelm …` in a clone), where a
 * full tsc run was most of the first command's time although `npm ci` had just
 * built the same files. A successful build writes dist/.build-stamp; the build
 * is current while no input (the TypeScript under tsconfig's folders,
 * tsconfig.json, package.json, package-lock.json) is newer than that stamp.
 *
 *   node scripts/build-if-stale.mjs [--root DIR] [--dry-run | --force]
 *
 * --dry-run prints "up to date" or "stale: <why>" and builds nothing.
 * --force builds whether or not anything changed (`npm run build`, `npm test`
 * and the other scripts that compile), so their builds write the stamp too and
 * the next `prepare` does not compile the same files again.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const rootAt = args.indexOf("--root");
const root = resolve(rootAt >= 0 ? args[rootAt + 1] : join(dirname(fileURLToPath(import.meta.url)), ".."));
const dryRun = args.includes("--dry-run");
const force = args.includes("--force");
const SOURCE_FOLDERS = ["src", "test", "bench", "scripts"];
const SOURCE_FILES = ["tsconfig.json", "package.json", "package-lock.json"];
const stampPath = join(root, "dist", ".build-stamp");

function mtimeOf(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The first input newer than `since`, or undefined. */
function newerInput(since) {
  for (const file of SOURCE_FILES) {
    const mtime = mtimeOf(join(root, file));
    if (mtime !== undefined && mtime > since) return file;
  }
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        const found = walk(path);
        if (found) return found;
      } else if (entry.name.endsWith(".ts") && (mtimeOf(path) ?? 0) > since) return relative(root, path);
    }
    return undefined;
  };
  for (const folder of SOURCE_FOLDERS) {
    const found = walk(join(root, folder));
    if (found) return found;
  }
  return undefined;
}

function staleReason() {
  const stamp = mtimeOf(stampPath);
  if (stamp === undefined) return "no dist/.build-stamp (never built here)";
  const newer = newerInput(stamp);
  return newer ? `${newer} is newer than the last build` : undefined;
}

const reason = staleReason();
if (dryRun) {
  process.stdout.write(reason ? `stale: ${reason}\n` : "up to date\n");
  process.exit(0);
}
if (!reason && !force) process.exit(0);
const started = Date.now();
// The stamp takes the time the build started: a file edited while tsc runs makes the next prepare build again.
const tsc = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.json")], { stdio: "inherit" });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
writeFileSync(stampPath, `${new Date(started).toISOString()}\n`);
utimesSync(stampPath, new Date(started), new Date(started));
