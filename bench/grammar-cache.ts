/**
 * A node-llama-cpp runner's resident memory under many distinct JSON schemas,
 * with the grammar cache bounded (the defaults, engine.grammar_cache) and, side
 * by side in the same run, effectively unbounded (how it was before the bound):
 * 3,400 distinct small schemas, then 400 schemas with 3,000-value enums, each
 * one request of one token. Prints the runner's RSS (its health call) before,
 * after the small schemas and after the large ones, and the cache's size.
 *
 * Usage: node dist/bench/grammar-cache.js [--small 3400] [--large 400] [--json out.json]
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ChildProcessRunner } from "../src/engine/runners/child-process-runner.js";
import { DEFAULT_GRAMMAR_CACHE_LIMITS, type GrammarCacheLimits } from "../src/engine/grammar-cache.js";
import { integerOption } from "./bench-args.js";

const REPO = resolve(fileURLToPath(new URL("../../", import.meta.url)));
const MODEL = process.env.EDGELM_TEST_MODEL ?? resolve(REPO, "../shared/models/stories260K.gguf");
const small = integerOption("--small", 3400);
const large = integerOption("--large", 400);
const jsonAt = process.argv.indexOf("--json");

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

async function run(label: string, limits: GrammarCacheLimits) {
  const runner = new ChildProcessRunner({ name: label, path: MODEL, parallel: 1, contextSize: 256, threads: { decode: 1, prompt: 1 }, grammarCacheLimits: limits });
  await runner.start();
  try {
    const request = async (schema: Record<string, unknown>) => {
      const stream = await runner.generate({ prompt: "Once upon a time", maxTokens: 1, responseFormat: { type: "json_schema", schema } });
      for await (const _ of stream);
      await stream.result;
    };
    const rss = async () => (await runner.health(30_000)).rssBytes;
    const before = await rss();
    const started = performance.now();
    for (let i = 0; i < small; i++) await request({ type: "object", properties: { [`field_${i}`]: { type: "integer" } }, required: [`field_${i}`] });
    const afterSmall = await rss();
    for (let i = 0; i < large; i++) {
      await request({ type: "object", properties: { v: { enum: Array.from({ length: 3000 }, (_, j) => `value-${i}-${j}`) } }, required: ["v"] });
    }
    const health = await runner.health(30_000);
    return { label, limits, rssBeforeMb: mb(before), rssAfterSmallMb: mb(afterSmall), rssAfterLargeMb: mb(health.rssBytes), cache: health.grammarCache, seconds: (performance.now() - started) / 1000 };
  } finally {
    await runner.dispose();
  }
}

const results = [
  await run("bounded (defaults)", DEFAULT_GRAMMAR_CACHE_LIMITS),
  await run("unbounded", { maxEntries: 1_000_000, maxBytes: Number.MAX_SAFE_INTEGER }),
];
console.log(`${small} small schemas, then ${large} schemas with 3,000-value enums; one request each (runner RSS, MB)`);
console.log("cache              before  after-small  after-large  entries  est. MB  evictions  seconds");
for (const r of results) {
  console.log(
    `${r.label.padEnd(18)} ${String(r.rssBeforeMb).padStart(6)}  ${String(r.rssAfterSmallMb).padStart(11)}  ${String(r.rssAfterLargeMb).padStart(11)}  ${String(r.cache?.entries).padStart(7)}  ${String(mb(r.cache?.bytes ?? 0)).padStart(7)}  ${String(r.cache?.evictions).padStart(9)}  ${r.seconds.toFixed(0).padStart(7)}`,
  );
}
const [bounded, unbounded] = results;
console.log(`growth over the run: bounded ${bounded!.rssAfterLargeMb - bounded!.rssBeforeMb} MB, unbounded ${unbounded!.rssAfterLargeMb - unbounded!.rssBeforeMb} MB`);
if (jsonAt !== -1) writeFileSync(process.argv[jsonAt + 1]!, JSON.stringify(results, null, 2));
