/**
 * Does a huge prompt stall other clients? Streams one completion from
 * stories260K through a real gateway and records its longest gap between two
 * chunks, alone and while another client sends big prompts: a 4 MB one
 * (refused on its bytes, before tokenizing) and the longest one the byte
 * bound lets through to the tokenizer (context × longest token bytes, then
 * refused on its tokens). Rounds are interleaved; medians are printed.
 *
 *   node dist/bench/prompt-stall.js [--rounds 5] [--json FILE]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load-config.js";
import { EdgeNode } from "../src/edge-node.js";
import { setLogLevel } from "../src/log.js";
import { BENCH_TEST_MODEL, integerOption, jsonOutOption } from "./bench-args.js";
import { median } from "./bench-stats.js";

const rounds = integerOption("--rounds", 5);
const jsonOut = jsonOutOption();
const model = BENCH_TEST_MODEL;

setLogLevel("error");
const home = mkdtempSync(join(tmpdir(), "edgelm-prompt-stall-"));
const { config } = loadConfig({ flags: { server: { port: 0, body_limit_bytes: 8 * 1024 * 1024 } }, env: { EDGELM_HOME: home } });
const node = await EdgeNode.create(config, { models: [{ name: "stories", ref: model, parallel: 4, contextSize: 512, threads: { decode: 1, prompt: 1 } }], ops: false });
const url = await node.listen();
await node.whenReady();
const status = node.gateway.status("stories");
const longest = status.summary?.longestTokenBytes ?? 1;
const contextSize = status.info?.contextSize ?? 512;

/** Longest gap between chunks of one streamed completion, in ms. */
async function longestGap(): Promise<number> {
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "stories", prompt: "Once upon a time", max_tokens: 300, temperature: 0, stream: true }),
  });
  let last = performance.now();
  let gap = 0;
  let first = true;
  for await (const _ of response.body!) {
    const now = performance.now();
    if (!first) gap = Math.max(gap, now - last);
    first = false;
    last = now;
  }
  return gap;
}

/** Sends big prompts back to back until `state.stop`; counts answers by status. */
async function bigPrompts(prompt: string, state: { stop: boolean }, statuses: Record<string, number>): Promise<void> {
  const body = JSON.stringify({ model: "stories", prompt, max_tokens: 4 });
  while (!state.stop) {
    const response = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
    await response.text();
    statuses[response.status] = (statuses[response.status] ?? 0) + 1;
  }
}

const words = (bytes: number): string => "Once upon a time ".repeat(Math.ceil(bytes / 17)).slice(0, bytes);
const scenarios: Record<string, string | undefined> = {
  alone: undefined,
  "4 MB prompt": words(4 * 1024 * 1024),
  [`${contextSize * longest} B prompt (the byte bound)`]: words(contextSize * longest - 1),
};
const gaps: Record<string, number[]> = Object.fromEntries(Object.keys(scenarios).map((k) => [k, []]));
const statuses: Record<string, Record<string, number>> = Object.fromEntries(Object.keys(scenarios).map((k) => [k, {}]));
await longestGap(); // warm up
for (let round = 0; round < rounds; round++) {
  for (const [name, prompt] of Object.entries(scenarios)) {
    const state = { stop: false };
    const load = prompt === undefined ? Promise.resolve() : bigPrompts(prompt, state, statuses[name]!);
    if (prompt !== undefined) await new Promise((r) => setTimeout(r, 50));
    gaps[name]!.push(await longestGap());
    state.stop = true;
    await load;
  }
}
await node.close({ graceMs: 0 });
rmSync(home, { recursive: true, force: true });

const base = median(gaps.alone!);
process.stdout.write(`longest gap between chunks of another client's stream (median of ${rounds} interleaved rounds; longest token ${longest} B, context ${contextSize})\n`);
for (const [name, values] of Object.entries(gaps)) {
  const m = median(values);
  const answered = Object.entries(statuses[name]!).map(([s, n]) => `${s}×${n}`).join(" ");
  process.stdout.write(`  ${name.padEnd(36)} ${m.toFixed(1).padStart(8)} ms  ×${(m / base).toFixed(2)}${answered ? `  (big prompts answered ${answered})` : ""}\n`);
}
if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify({ rounds, longestTokenBytes: longest, contextSize, gaps, statuses }, null, 2)}\n`);
