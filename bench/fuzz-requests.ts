/**
 * Fuzzes a real gateway (stories260K on node-llama-cpp runners, 127.0.0.1
 * only, with inference and admin keys) with hostile requests to every route
 * of the dialects (OpenAI, Ollama with model management, llama-server's own),
 * the admin API and the probes while two clients stream, and prints what must
 * hold: requests answered, 5xx, hangs, runner exits, the served model neither
 * swapped nor given runners, other clients' streams, resident memory before and after.
 *
 *   node --expose-gc dist/bench/fuzz-requests.js [--cases 10000] [--seed 1] [--concurrency 4] [--json FILE]
 *
 * Exits non-zero when any request got a 5xx or no answer, a runner exited,
 * or another client's stream failed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load-config.js";
import { EdgeNode } from "../src/edge-node.js";
import { setLogLevel } from "../src/log.js";
import { BENCH_TEST_MODEL, integerOption, jsonOutOption } from "./bench-args.js";
import { requestCases } from "./fuzz/request-cases.js";
import { runRequestFuzz } from "./fuzz/request-fuzz.js";

const count = integerOption("--cases", 10_000);
const seed = integerOption("--seed", 1);
const concurrency = integerOption("--concurrency", 4);
const jsonOut = jsonOutOption();
const model = BENCH_TEST_MODEL;

setLogLevel("error");
const home = mkdtempSync(join(tmpdir(), "edgelm-fuzz-requests-"));
const apiKey = "fuzz-inference-key";
const adminKey = "fuzz-admin-key";
const { config } = loadConfig({
  flags: {
    server: { port: 0, host: "127.0.0.1", api_keys: [apiKey], admin_keys: [adminKey] },
    router: { events: { url: "http://127.0.0.1:9/events" } },
    // No policy rules: this machine's own load must not act on the served model mid-run.
    policies: { rules: [] },
  },
  env: { EDGELM_HOME: home },
});
const node = await EdgeNode.create(config, { models: [{ name: "stories", ref: model, parallel: 4, contextSize: 512, threads: { decode: 1, prompt: 1 } }] });
const url = await node.listen();
await node.whenReady();
const served = node.gateway.status("stories");
const cases = requestCases("stories", count, seed, { apiKey, adminKey });
const report = await runRequestFuzz({ url, gateway: node.gateway, model: "stories", cases, concurrency, streams: 2, apiKey });
const after = node.gateway.status("stories");
const untouched = after.ref === served.ref && after.runners.map((r) => r.pid).join() === served.runners.map((r) => r.pid).join();
await node.close({ graceMs: 0 });
rmSync(home, { recursive: true, force: true });

const lines = [
  `requests            ${report.cases} in ${(report.durationMs / 1000).toFixed(1)} s (seed ${seed}, ${concurrency} at a time)`,
  `by status           ${Object.entries(report.byStatus).map(([s, n]) => `${s}: ${n}`).join("  ")}`,
  ...Object.entries(report.byKind).map(([kind, statuses]) => `  ${kind.padEnd(18)}${Object.entries(statuses).map(([s, n]) => `${s}: ${n}`).join("  ")}`),
  "by route",
  ...Object.entries(report.byRoute)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([route, statuses]) => `  ${route.padEnd(32)}${Object.entries(statuses).map(([s, n]) => `${s}: ${n}`).join("  ")}`),
  `5xx / server faults ${report.failures.length}`,
  `hangs               ${report.hangs.length}`,
  `runner exits        ${report.runnerExits}`,
  `served model        ${untouched ? "same model, same runners" : `changed: ${served.ref} → ${after.ref}, runners ${served.runners.length} → ${after.runners.length}`}`,
  `other streams       ${report.streams.completed} completed, ${report.streams.failed.length} failed`,
  `gateway RSS         ${report.rss.gatewayBeforeMb} → ${report.rss.gatewayAfterMb} MiB`,
  `runner RSS          ${report.rss.runnersBeforeMb} → ${report.rss.runnersAfterMb} MiB`,
];
process.stdout.write(`${lines.join("\n")}\n`);
for (const failure of report.failures.slice(0, 10)) process.stdout.write(`  fault ${failure.status} ${failure.path} (${failure.kind}): ${failure.detail}\n`);
for (const exit of report.runnerExitDetails.slice(0, 10)) process.stdout.write(`  runner exit: ${exit}\n`);
for (const hang of report.hangs.slice(0, 10)) process.stdout.write(`  hang ${hang.path} (${hang.kind})\n`);
for (const failed of report.streams.failed.slice(0, 10)) process.stdout.write(`  stream failed: ${failed}\n`);
if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify(report, null, 2)}\n`);
const bad = report.failures.length + report.hangs.length + report.runnerExits + report.streams.failed.length + (untouched ? 0 : 1);
process.exit(bad > 0 ? 1 : 0);
