/**
 * Loads GGUF files into llama.cpp in child processes (load-gguf-child) and
 * reports which ones killed the process: a native abort or crash that
 * load-safety should have prevented. A child that dies is replaced and the
 * run continues with the next file.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface NativeLoadResult {
  file: string;
  /** "ok", an EdgeError code (a clean refusal), "crash:<signal or exit code>", or "hang". */
  status: string;
  /** Last stderr lines of a crashed child (llama.cpp's assertion message). */
  stderr?: string;
}

const CHILD = fileURLToPath(new URL("./load-gguf-child.js", import.meta.url));

function runChild(files: string[], timeoutMs: number): Promise<{ lines: string[]; code: number | null; signal: string | null; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD, ...files], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, EDGELM_LOG_LEVEL: "error" } });
    let out = "";
    let err = "";
    let timedOut = false;
    let timer = setTimeout(() => ((timedOut = true), child.kill("SIGKILL")), timeoutMs);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      // Each finished file resets the watchdog: the limit is per file, not per batch.
      clearTimeout(timer);
      timer = setTimeout(() => ((timedOut = true), child.kill("SIGKILL")), timeoutMs);
    });
    child.stderr.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ lines: out.split("\n").filter(Boolean), code, signal, stderr: err, timedOut });
    });
  });
}

/** Loads every file; `perFileTimeoutMs` (default 60 s) bounds each one. */
export async function checkNativeLoads(files: readonly string[], perFileTimeoutMs = 60_000): Promise<NativeLoadResult[]> {
  const results: NativeLoadResult[] = [];
  let next = 0;
  while (next < files.length) {
    const batch = files.slice(next);
    const run = await runChild(batch, perFileTimeoutMs);
    let finished = 0;
    let begun = -1;
    for (const line of run.lines) {
      const [word, index, status] = line.split(" ");
      if (word === "BEGIN") begun = Number(index);
      if (word === "END") {
        results.push({ file: batch[Number(index)]!, status: status ?? "?" });
        finished = Number(index) + 1;
      }
    }
    if (finished === batch.length) break;
    // The child died (or hung) inside file `begun`.
    const culprit = begun >= finished ? begun : finished;
    const status = run.timedOut ? "hang" : `crash:${run.signal ?? run.code}`;
    results.push({ file: batch[culprit]!, status, stderr: run.stderr.trim().split("\n").slice(-3).join(" | ") });
    next += culprit + 1;
  }
  return results;
}
