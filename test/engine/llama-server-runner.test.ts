import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { inspectLlamaServer } from "../../src/engine/llama-server/llama-server-binary.js";
import { LlamaServerRunner } from "../../src/engine/llama-server/llama-server-runner.js";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import type { RunnerExit } from "../../src/engine/runner.js";
import type { GenerateRequest, LoadedModel } from "../../src/engine/types.js";
import { isEdgeError } from "../../src/errors.js";
import { testLlamaServer, TEST_MODEL } from "../helpers.js";
import { writeTemplatedStories } from "./templated-model.js";
import { assertKilledMidStream } from "./runner-kill.js";

const options = { path: TEST_MODEL, parallel: 4, contextSize: 256, threads: { decode: 1, prompt: 1 } };

async function complete(model: LoadedModel, request: GenerateRequest) {
  const stream = await model.generate(request);
  let text = "";
  for await (const chunk of stream) text += chunk.text;
  return { ...(await stream.result), streamed: text };
}

/** llama-server's own count of generated tokens (its /metrics). */
async function tokensPredicted(runner: LlamaServerRunner): Promise<number> {
  const text = await runner.metricsText();
  const value = /^llamacpp:tokens_predicted_total (\d+)/m.exec(text)?.[1];
  assert.ok(value !== undefined, `no tokens_predicted_total in:\n${text}`);
  return Number(value);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("llama-server runner process", () => {
  let binary: string;
  before(async () => {
    binary = await testLlamaServer();
  });

  it("listens on a private socket with a key that is not on its command line; reports health; stops cleanly", async () => {
    const runner = new LlamaServerRunner({ ...options, name: "stories" }, { binary });
    const info = await runner.start();
    assert.equal(info.backend, "llama-server");
    assert.equal(info.parallel, 4);
    assert.equal(info.contextSize, 256);
    assert.deepEqual(info.threads, { prompt: 1, decode: 1 });
    assert.match(info.engineBuild, /^llama-server /);
    const pid = runner.pid!;
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    assert.ok(!args.includes("--api-key"), args.join(" "));
    const keyFile = args[args.indexOf("--api-key-file") + 1]!;
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const host = args[args.indexOf("--host") + 1]!;
    if ((await inspectLlamaServer(binary)).unixSocket) {
      assert.match(host, /\.sock$/);
      assert.equal(statSync(dirname(host)).mode & 0o777, 0o700);
    } else {
      assert.equal(host, "127.0.0.1");
    }
    assert.equal(args[args.indexOf("--parallel") + 1], "4");
    assert.equal(args[args.indexOf("--ctx-size") + 1], "1024");
    const stream = await runner.generate({ prompt: "Once upon a time", maxTokens: 16, temperature: 0 });
    for await (const _ of stream);
    const health = await runner.health();
    assert.ok(health.ok);
    assert.equal(health.activeSequences, 0);
    assert.ok(health.rssBytes > 1024 * 1024, String(health.rssBytes));
    const exits: RunnerExit[] = [];
    runner.onExit((exit) => exits.push(exit));
    await runner.dispose();
    assert.equal(runner.state, "exited");
    assert.deepEqual(exits.map((e) => e.expected), [true]);
    assert.equal(alive(pid), false);
    assert.equal(existsSync(dirname(keyFile)), false, "its private folder is removed");
    await assert.rejects(runner.generate({ prompt: "Once" }), (e: unknown) => isEdgeError(e) && e.code === "model_not_ready");
  });

  it("stops generating as soon as a stream is aborted: llama-server's own token count shows it", async () => {
    const runner = new LlamaServerRunner({ ...options, name: "stories", parallel: 1, contextSize: 512 }, { binary });
    await runner.start();
    try {
      const request: GenerateRequest = { prompt: "Once upon a time", maxTokens: -1, ignoreEos: true, temperature: 0.8, seed: 3 };
      const full = await complete(runner, request);
      assert.equal(full.finishReason, "length");
      assert.ok(full.timings.completionTokens > 400, String(full.timings.completionTokens));
      const before = await tokensPredicted(runner);
      const controller = new AbortController();
      const stream = await runner.generate(request, controller.signal);
      let chunks = 0;
      for await (const _ of stream) if (++chunks === 3) controller.abort();
      assert.equal((await stream.result).finishReason, "abort");
      assert.equal(runner.activeSequences, 0);
      // The slot is free in llama-server itself, and it generated only a few tokens past the abort.
      const deadline = Date.now() + 2000;
      while ((await runner.health()).activeSequences > 0) {
        assert.ok(Date.now() < deadline, "llama-server still generates 2 s after the abort");
        await new Promise((r) => setTimeout(r, 10));
      }
      const generated = (await tokensPredicted(runner)) - before;
      // stories260K makes thousands of tokens a second: the bound says it stopped long before the end, not how fast.
      assert.ok(generated < full.timings.completionTokens / 2, `${generated} of ${full.timings.completionTokens} tokens were generated`);
      // The freed slot serves the next request at once.
      assert.equal((await complete(runner, { prompt: "One day", maxTokens: 8, temperature: 0 })).timings.completionTokens, 8);
    } finally {
      await runner.dispose();
    }
  });

  it("fails in-flight work with runner_crashed when the process is killed, and reports the exit", async () => {
    const runner = new LlamaServerRunner({ ...options, name: "stories", parallel: 1, contextSize: 512 }, { binary });
    await runner.start();
    await assertKilledMidStream(runner, { prompt: "Once upon a time", maxTokens: -1, ignoreEos: true, temperature: 0.8, seed: 1 });
  });

  it("reports a model llama.cpp cannot load as a load failure with llama-server's reason", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-ls-"));
    try {
      const path = await writeTemplatedStories(dir, undefined, { "general.architecture": "nosucharch" }, "unknown-arch.gguf");
      const runner = new LlamaServerRunner({ ...options, path, name: "odd" }, { binary });
      await assert.rejects(runner.start(), (e: unknown) => {
        assert.ok(isEdgeError(e));
        assert.equal(e.code, "model_load_failed");
        assert.match(e.message, /llama-server exited while loading .*unknown-arch\.gguf/);
        assert.match(e.message, /nosucharch/);
        return true;
      });
      assert.equal(runner.state, "exited");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("llama-server binary check", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-bin-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function script(name: string, body: string): string {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  it("accepts a working llama-server and names its version", async () => {
    const binary = await inspectLlamaServer(await testLlamaServer());
    assert.match(binary.version, /\d/);
    assert.ok(binary.flags.has("--parallel"));
  });

  it("refuses a missing, non-executable, foreign, old or hanging binary with a clear error", async () => {
    const cases: Array<[string, RegExp, number?]> = [
      [join(dir, "absent"), /absent does not exist; build one with `edgelm engine build`/],
      [(() => { const p = join(dir, "plain"); writeFileSync(p, "x"); return p; })(), /plain is not executable/],
      [script("foreign", "echo hello"), /does not look like llama\.cpp's server/],
      [script("crashing", "echo 'version: 1 (build 1)'; exit 3"), /--version exited with code 3/],
      [script("old", 'case "$1" in --version) echo "version: 1 (build 1, commit abc)";; *) echo "--model --host --port";; esac'), /lacks --api-key-file, .*use a newer llama-server/],
      [script("hanging", "sleep 30"), /--version did not finish within 300 ms/, 300],
    ];
    for (const [path, message, timeoutMs] of cases) {
      await assert.rejects(inspectLlamaServer(path, "engine.llama_server", timeoutMs), (e: unknown) => {
        assert.ok(isEdgeError(e), String(e));
        assert.equal(e.code, "invalid_config");
        assert.match(e.message, /^engine\.llama_server: /);
        assert.match(e.message, message);
        return true;
      });
    }
  });
});

describe("node-llama-cpp and llama-server give the same results for the same request", () => {
  let dir: string;
  let node: LoadedModel;
  let native: LlamaServerRunner;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-parity-"));
    const path = await writeTemplatedStories(dir);
    const load = { path, parallel: 2, contextSize: 256, threads: { decode: 1, prompt: 1 } };
    node = await new NodeLlamaCppBackend().load(load);
    native = new LlamaServerRunner({ ...load, name: "chatml" }, { binary: await testLlamaServer() });
    await native.start();
  });
  after(async () => {
    await node?.dispose();
    await native?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("renders chat with the model's template to the same prompt, tokenized alike", async () => {
    const messages = [
      { role: "system" as const, content: "You tell short stories." },
      { role: "user" as const, content: "Tell me about Lily." },
    ];
    const text = await node.renderChat(messages);
    assert.equal(text, "<|im_start|>system\nYou tell short stories.<|im_end|>\n<|im_start|>user\nTell me about Lily.<|im_end|>\n<|im_start|>assistant\n");
    assert.equal(await native.renderChat(messages), text);
    assert.deepEqual(await native.tokenize(text, { addBos: true }), await node.tokenize(text, { addBos: true }));
    const a = await complete(node, { messages, maxTokens: 24, temperature: 0 });
    const b = await complete(native, { messages, maxTokens: 24, temperature: 0 });
    assert.equal(b.timings.promptTokens, a.timings.promptTokens);
    assert.equal(b.text, a.text);
  });

  it("continues a raw prompt alike (greedy), and embeds alike", async () => {
    const a = await complete(node, { prompt: "Once upon a time", maxTokens: 40, temperature: 0 });
    const b = await complete(native, { prompt: "Once upon a time", maxTokens: 40, temperature: 0 });
    assert.equal(b.text, a.text);
    assert.equal(b.timings.promptTokens, a.timings.promptTokens);
    const [ea, eb] = [(await node.embed(["a red ball"])).vectors[0]!, (await native.embed(["a red ball"])).vectors[0]!];
    const cosine = ea.reduce((sum, v, i) => sum + v * eb[i]!, 0);
    assert.ok(cosine > 0.999, `cosine ${cosine}`);
  });
});
