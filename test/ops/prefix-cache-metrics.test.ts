/**
 * Warm prefixes through the gateway, as users configure them: a system prompt
 * from a file (server.models[].warm_prefixes) on the llama-server engine. A chat
 * starting with it reuses its tokens (OpenAI's usage.prompt_tokens_details), the
 * prefix-cache series in /metrics say so, and after the runner is killed the
 * pool's new runner restores the saved state instead of evaluating it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { loadConfig } from "../../src/config/load-config.js";
import { isEdgeError } from "../../src/errors.js";
import { planServedModels } from "../../src/server/served-model-specs.js";
import { testLlamaServer, TEST_MODEL } from "../helpers.js";
import { waitFor } from "../server/gateway-fixture.js";
import { startOpsGateway, type OpsFixture } from "./ops-gateway-fixture.js";

const SYSTEM = "You tell short stories about Lily and her dog Max. They always play in the park with a red ball, and every story ends happily.";

function sample(text: string, name: string, runner: string): number {
  const match = new RegExp(`^${name}\\{model="stories",runner="${runner.replace(/[#]/g, "\\$&")}"\\} (\\S+)$`, "m").exec(text);
  assert.ok(match, `no ${name} sample for ${runner} in:\n${text.split("\n").filter((l) => /prefix|prompt_tokens_(reused|evaluated)/.test(l)).join("\n")}`);
  return Number(match[1]);
}

describe("warm prefixes configured from a file, seen in usage and /metrics", () => {
  let fixture: OpsFixture;
  let openai: OpenAI;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-warm-"));
    const file = join(dir, "system.txt");
    writeFileSync(file, SYSTEM);
    const { config } = loadConfig({
      flags: { server: { models: [{ name: "stories", ref: TEST_MODEL, parallel: 2, context_size: 512, threads: { decode: 1, prompt: 1 }, warm_prefixes: [{ file }] }] } },
      env: { EDGELM_HOME: dir },
    });
    const plan = await planServedModels(config);
    assert.deepEqual(plan.specs[0]!.warmPrefixes, [SYSTEM], "the file's text is the warm prefix");
    fixture = await startOpsGateway({ models: plan.specs, config: { engine: { backend: "llama-server", llama_server: await testLlamaServer() } } });
    openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    await fixture?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const metrics = async () => (await fetch(`${fixture.url}/metrics`)).text();
  const runnerId = () => fixture.gateway.pool("stories").runnerProcesses()[0]!.id;
  const ask = (question: string) =>
    openai.chat.completions.create({ model: "stories", messages: [{ role: "system", content: SYSTEM }, { role: "user", content: question }], max_tokens: 8, temperature: 0 });

  it("a chat starting with the warm prefix reuses it on its first request; /metrics counts it", async () => {
    const id = runnerId();
    let text = await metrics();
    assert.equal(sample(text, "edgelm_warm_prefixes", id), 1);
    assert.equal(sample(text, "edgelm_warm_prefixes_restored", id), 0);
    assert.ok(sample(text, "edgelm_warm_prefix_bytes", id) > 0);
    const reply = await ask("Where is the ball?");
    const cached = reply.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    assert.ok(cached > reply.usage!.prompt_tokens / 2, `${cached} of ${reply.usage!.prompt_tokens} prompt tokens reused`);
    text = await metrics();
    assert.equal(sample(text, "edgelm_prefix_cache_hits_total", id), 1);
    assert.equal(sample(text, "edgelm_prefix_cache_misses_total", id), 0);
    assert.equal(sample(text, "edgelm_prompt_tokens_reused_total", id), cached);
    assert.equal(sample(text, "edgelm_prompt_tokens_evaluated_total", id), reply.usage!.prompt_tokens - cached);
    // A prompt that shares nothing but the start is a miss.
    await openai.completions.create({ model: "stories", prompt: "Once upon a time there was a big red truck", max_tokens: 4, temperature: 0 });
    assert.equal(sample(await metrics(), "edgelm_prefix_cache_misses_total", id), 1);
  });

  it("after the runner is killed, the pool's new runner restores the saved state (same model hash) instead of evaluating it", async () => {
    const victim = fixture.gateway.pool("stories").runnerProcesses()[0]!;
    process.kill(victim.runner.pid!, "SIGKILL");
    await waitFor(() => {
      const now = fixture.gateway.pool("stories").runnerProcesses()[0];
      return now !== undefined && now.id !== victim.id && now.runner.state === "ready";
    }, 60_000, "the restarted runner");
    const id = runnerId();
    assert.equal(sample(await metrics(), "edgelm_warm_prefixes_restored", id), 1);
    const reply = await ask("What did Max do?");
    assert.ok((reply.usage?.prompt_tokens_details?.cached_tokens ?? 0) > reply.usage!.prompt_tokens / 2);
  });
});

describe("server.models[].warm_prefixes", () => {
  it("a missing file, an empty one, or a wrong shape is a clear error before anything loads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-warm-bad-"));
    try {
      const missing = join(dir, "nope.txt");
      const plan = (warm: unknown) => {
        const { config } = loadConfig({ flags: { server: { models: [{ name: "s", ref: TEST_MODEL, warm_prefixes: warm }] } } as never, env: { EDGELM_HOME: dir } });
        return planServedModels(config);
      };
      await assert.rejects(plan([{ file: missing }]), (e: unknown) => isEdgeError(e) && /warm_prefixes\[0\]\.file: cannot read .*nope\.txt \(ENOENT\)/.test(e.message));
      writeFileSync(join(dir, "empty.txt"), "  \n");
      await assert.rejects(plan([{ text: "ok" }, { file: join(dir, "empty.txt") }]), (e: unknown) => isEdgeError(e) && /warm_prefixes\[1\]\.file: .* is empty/.test(e.message));
      assert.throws(() => plan([{ text: "a", file: "b" }]), /warm_prefixes/);
      assert.throws(() => plan(["just a string"]), /warm_prefixes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
