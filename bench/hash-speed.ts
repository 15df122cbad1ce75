/**
 * Hashing speed: edgelm's streaming SHA-256 (the one every model load and
 * pull uses) next to coreutils `sha256sum` on the same file, interleaved in
 * one run, medians reported (these machines are noisy). The page cache is
 * warm for both; a cache hit of the verified-hash cache is shown for scale.
 *
 *   npm run build && node dist/bench/hash-speed.js [--size-mb 1024] [--rounds 5] [--json]
 */
import { execFileSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256File } from "../src/trust/file-hash.js";
import { hashFileCached, VerifiedHashCache } from "../src/trust/verified-hash-cache.js";
import { integerOption } from "./bench-args.js";
import { median } from "./bench-stats.js";

const sizeMb = integerOption("--size-mb", 1024);
const rounds = integerOption("--rounds", 5);
const json = process.argv.includes("--json");
const dir = mkdtempSync(join(tmpdir(), "edgelm-hash-bench-"));
const file = join(dir, "blob.bin");

try {
  // Random bytes (a 16 MiB random block, re-randomised every 64 MiB): SHA-256 speed does not depend on content.
  const block = Buffer.alloc(16 << 20);
  const fd = openSync(file, "w");
  for (let written = 0, i = 0; written < sizeMb << 20; i++) {
    if (i % 4 === 0) randomFillSync(block);
    const n = Math.min(block.length, (sizeMb << 20) - written);
    writeSync(fd, block, 0, n);
    written += n;
  }
  closeSync(fd);
  const bytes = sizeMb << 20;

  // Warm the page cache and check both agree.
  const ours = await sha256File(file);
  const theirs = execFileSync("sha256sum", [file], { encoding: "utf8" }).split(/\s+/)[0];
  if (ours !== theirs) throw new Error(`hash mismatch: edgelm ${ours}, sha256sum ${theirs}`);

  const timings = { edgelm: [] as number[], sha256sum: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first, so neither always runs on a warmer CPU.
    const order = round % 2 === 0 ? (["edgelm", "sha256sum"] as const) : (["sha256sum", "edgelm"] as const);
    for (const tool of order) {
      const started = performance.now();
      if (tool === "edgelm") await sha256File(file);
      else execFileSync("sha256sum", [file]);
      timings[tool].push((performance.now() - started) / 1000);
    }
  }
  const cache = new VerifiedHashCache(join(dir, "cache"));
  await hashFileCached(file, cache); // fills the cache
  const hits: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    const { cached } = await hashFileCached(file, cache);
    if (!cached) throw new Error("expected a cache hit");
    hits.push(performance.now() - started);
  }

  const mbps = (seconds: number) => bytes / 1e6 / seconds;
  const result = {
    file_bytes: bytes,
    rounds,
    edgelm_sha256_mb_s: mbps(median(timings.edgelm)),
    sha256sum_mb_s: mbps(median(timings.sha256sum)),
    ratio: median(timings.sha256sum) / median(timings.edgelm),
    edgelm_seconds: timings.edgelm,
    sha256sum_seconds: timings.sha256sum,
    cache_hit_ms: median(hits),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const row = (name: string, seconds: number[]) =>
      `${name.padEnd(28)} ${mbps(median(seconds)).toFixed(0).padStart(8)}  ${median(seconds).toFixed(3).padStart(9)}  ${mbps(Math.max(...seconds)).toFixed(0)}–${mbps(Math.min(...seconds)).toFixed(0)}`;
    process.stdout.write(`SHA-256 of a ${sizeMb} MiB file (page cache warm), median of ${rounds} interleaved rounds\n\n`);
    process.stdout.write(`${"tool".padEnd(28)} ${"MB/s".padStart(8)}  ${"seconds".padStart(9)}  range MB/s\n`);
    process.stdout.write(`${row("edgelm sha256File (node)", timings.edgelm)}\n`);
    process.stdout.write(`${row("sha256sum (coreutils)", timings.sha256sum)}\n`);
    process.stdout.write(`\nedgelm / sha256sum speed: ${result.ratio.toFixed(2)}x\n`);
    process.stdout.write(`verified-hash cache hit (no re-read): ${result.cache_hit_ms.toFixed(2)} ms\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
