import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import OpenAI from "openai";
import { CLI, REPO_ROOT, runCli, tempHome, TEST_MODEL } from "../helpers.js";

interface Served {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `edgelm serve` and resolves once every model line is printed (the models are loaded). */
function serve(args: string[], env: Record<string, string>, models: number): Promise<Served> {
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, EDGELM_LOG_LEVEL: "info", ...env },
  });
  let stdout = "";
  let stderr = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`edgelm serve did not start\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 60_000);
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      const url = /listening on (http:\/\/[^\s]+)/.exec(stdout)?.[1];
      const modelLines = stdout.split("\n").filter((l) => /^ {2}\S+ {2}(ready|failed)/.test(l)).length;
      if (url && modelLines >= models) {
        clearTimeout(timer);
        resolve({ child, url, stdout: () => stdout, stderr: () => stderr, exited });
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`edgelm serve exited with ${code}\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
  });
}

describe("edgelm serve", () => {
  it("serves, then on SIGTERM finishes short streams, cancels long ones at the deadline, and exits 0", async () => {
    const { home, cleanup } = tempHome();
    try {
      const config = join(home, "edgelm.yaml");
      writeFileSync(config, "server:\n  shutdown_grace_s: 1\n  parallel: 2\nengine:\n  threads:\n    decode: 1\n");
      const served = await serve(["--config", config, "--model", `stories=${TEST_MODEL}`, "--model", "demo", "--host", "0.0.0.0"], { EDGELM_HOME: home }, 2);
      assert.match(served.stderr(), /binding 0\.0\.0\.0 without API keys/);
      assert.match(served.stdout(), /stories {2}ready {2}node-llama-cpp, 1 runner × 2 slots/);
      assert.match(served.stdout(), /demo {2}ready .*verified/);
      const url = served.url.replace("0.0.0.0", "127.0.0.1");
      const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
      const models = await openai.models.list();
      assert.deepEqual(models.data.map((m) => m.id).sort(), ["demo", "stories"]);

      // A long stream, held open by freezing its runner (the demo model's); and a short one on the other model.
      const endless = { model: "demo", prompt: "Once upon a time", temperature: 0, response_format: { type: "json_object" }, stream: true as const };
      const long = await openai.completions.create(endless);
      const iterator = long[Symbol.asyncIterator]();
      let text = ((await iterator.next()).value as OpenAI.Completion).choices[0]!.text;
      const ps = (await (await fetch(`${url}/api/ps`)).json()) as any;
      const demoRunner: number = ps.models.find((m: any) => m.name === "demo:latest").edgelm.runners[0].pid;
      process.kill(demoRunner, "SIGSTOP");
      try {
        const short = openai.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 64, temperature: 0 });
        await new Promise((r) => setTimeout(r, 50));
        served.child.kill("SIGTERM");
        const shortResult = await short;
        assert.equal(shortResult.usage!.completion_tokens, 64);
        // The long one is cancelled at the deadline (1 s) and told why.
        await assert.rejects(
          (async () => {
            for (;;) {
              const next = await iterator.next();
              if (next.done) break;
              text += next.value.choices[0]!.text;
            }
          })(),
          (e: unknown) => e instanceof OpenAI.APIError && /shutting down/.test(e.message),
        );
        assert.ok(text.length > 0);
      } finally {
        process.kill(demoRunner, "SIGCONT");
      }
      const { code, signal } = await served.exited;
      assert.equal(signal, null);
      assert.equal(code, 0, served.stderr());
      assert.match(served.stdout(), /edgelm gateway stopped/);
      assert.match(served.stderr(), /SIGTERM: shutting down/);
      await assert.rejects(fetch(`${url}/health`));
    } finally {
      cleanup();
    }
  });

  it("serves the demo model by default and says so", async () => {
    const { home, cleanup } = tempHome();
    try {
      const served = await serve(["--threads", "1", "--api-key", "secret"], { EDGELM_HOME: home }, 1);
      assert.match(served.stderr(), /using the built-in demo model/);
      assert.doesNotMatch(served.stderr(), /without API keys/);
      const unauthorized = await fetch(`${served.url}/api/tags`);
      assert.equal(unauthorized.status, 401);
      const tags = await fetch(`${served.url}/api/tags`, { headers: { authorization: "Bearer secret" } });
      assert.deepEqual(((await tags.json()) as any).models.map((m: any) => m.name), ["demo:latest"]);
      served.child.kill("SIGINT");
      assert.equal((await served.exited).code, 0);
    } finally {
      cleanup();
    }
  });

  it("refuses bad flags and unknown models with one line and an exit code", async () => {
    const { home, cleanup } = tempHome();
    try {
      const port = await runCli(["serve", "--port", "70000"], { env: { EDGELM_HOME: home } });
      assert.equal(port.code, 2);
      assert.match(port.stderr, /--port must be between 0 and 65535/);
      const missing = await runCli(["serve", "--model", "./nothere.gguf"], { env: { EDGELM_HOME: home } });
      assert.equal(missing.code, 3);
      assert.match(missing.stderr, /^edgelm: model file .*nothere\.gguf does not exist\n$/);
      const blocker = createServer();
      await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
      const taken = (blocker.address() as AddressInfo).port;
      const busy = await runCli(["serve", "--port", String(taken)], { env: { EDGELM_HOME: home } });
      blocker.close();
      assert.equal(busy.code, 2);
      assert.match(busy.stderr, new RegExp(`127\\.0\\.0\\.1:${taken} is already in use; choose another port with --port`));
      const twice = await runCli(["serve", "--model", "demo", "--model", "demo"], { env: { EDGELM_HOME: home } });
      assert.equal(twice.code, 2);
      assert.match(twice.stderr, /two models would be served as "demo"/);
    } finally {
      cleanup();
    }
  });
});
