/**
 * Cross-process lock files: created with O_EXCL and holding the owner's pid,
 * so a lock left by a process that died (kill -9, power cut) is recognised as
 * stale and taken over instead of blocking forever.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { EdgeError, toEdgeError } from "../errors.js";
import { processAlive } from "../process-alive.js";


function lockOwner(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, "wx", 0o644);
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw toEdgeError(error, `cannot create lock ${path}`);
  }
}

export interface LockOptions {
  /** How long to wait for a live owner to let go, in ms (default 30 000; 0 = fail at once). */
  waitMs?: number;
  /** What the lock protects, for the error message ("the model store" → "the model store is in use by …"). */
  what: string;
  /** The error's start instead, e.g. "hf:… is being downloaded" (→ "… by another edgelm process"). */
  busy?: string;
}

/** A held lock; `release()` removes the file (idempotent). */
export interface HeldLock {
  release(): void;
}

export async function acquireLock(path: string, options: LockOptions): Promise<HeldLock> {
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + (options.waitMs ?? 30_000);
  for (;;) {
    if (tryCreate(path)) {
      let held = true;
      return {
        release: () => {
          if (held) rmSync(path, { force: true });
          held = false;
        },
      };
    }
    let owner = lockOwner(path);
    if (owner === undefined) {
      await sleep(20); // a live owner may not have written its pid yet
      owner = lockOwner(path);
    }
    if (owner === undefined || !processAlive(owner)) {
      // Stale: its owner died (or never finished writing it). Take it over.
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new EdgeError("model_not_ready", `${options.busy ?? `${options.what} is in use`} by another edgelm process (pid ${owner}); try again when it has finished`, {
        details: { lock: path, pid: owner },
      });
    }
    await sleep(50);
  }
}

/** Runs `fn` holding the lock at `path`. */
export async function withLock<T>(path: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(path, options);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
