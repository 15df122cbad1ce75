/**
 * `edgelm serve --grpc-port` as a user runs it: the gRPC API beside REST in
 * one process, counted in /metrics with dialect="grpc", refusing new calls
 * and cancelling in-flight streams at shutdown (UNAVAILABLE, shutting_down),
 * then exiting 0.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { CLI, REPO_ROOT, tempHome } from "../helpers.js";
import { bearer, collect, InferenceClient, statusDetails, unary } from "./grpc-client.js";

function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("edgelm serve --grpc-port", () => {
  it("serves gRPC beside REST, with metrics, auth and a graceful shutdown", async () => {
    const { home, cleanup } = tempHome();
    const config = join(home, "edgelm.yaml");
    writeFileSync(config, "server:\n  shutdown_grace_s: 1\n  parallel: 1\nengine:\n  threads:\n    decode: 1\n");
    const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "--grpc-port", "0", "--api-key", "k1", "--config", config, "-m", "demo"], {
      cwd: REPO_ROOT,
      env: { ...process.env, EDGELM_HOME: home, EDGELM_LOG_LEVEL: "info" },
    });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    let client: any;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`edgelm serve did not start\n${stdout}\n${stderr}`)), 60_000);
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString();
          if (/gRPC API listening on/.test(stdout) && /^ {2}demo {2}ready/m.test(stdout)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const url = /listening on (http:\/\/\S+)/.exec(stdout)![1]!;
      const address = /gRPC API listening on (\S+)/.exec(stdout)![1]!;
      client = new InferenceClient(address, grpc.credentials.createInsecure());
      const auth = bearer("k1");

      // Greedy: sampled, the demo model may reach end-of-text before 6 tokens.
      const done = (await collect(client.Generate({ model: "demo", prompt: "Once upon a time", options: { max_tokens: 6, temperature: 0 } }, auth))).done;
      assert.equal(done.usage.completion_tokens, 6);
      await assert.rejects(unary(client, "ListModels", {}), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
      const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: "Bearer k1" } })).text();
      assert.equal(sample(metrics, 'edgelm_requests_total{model="demo",route="grpc.generate",status="200",dialect="grpc"}'), 1);
      assert.equal(sample(metrics, 'edgelm_requests_total{model="",route="grpc.list_models",status="401",dialect="grpc"}'), 1);
      assert.equal(sample(metrics, 'edgelm_generated_tokens_total{model="demo",route="grpc.generate"}'), 6);

      // An endless stream (the demo model under a JSON grammar at temperature 0) is cancelled at the 1 s grace.
      const endless = client.Generate({ model: "demo", prompt: "Once upon a time", options: { temperature: 0, response_format: { type: "TYPE_JSON_OBJECT" } } }, auth);
      const streamed = collect(endless);
      await new Promise<void>((resolve) => endless.once("data", () => resolve()));
      child.kill("SIGTERM");
      const error = await streamed.then(
        () => assert.fail("the stream should have been cancelled"),
        (e: grpc.ServiceError) => e,
      );
      assert.equal(error.code, grpc.status.UNAVAILABLE, error.details);
      assert.equal(statusDetails(error).details["google.rpc.ErrorInfo"].reason, "shutting_down");
      assert.equal(await exited, 0);
      assert.match(stdout, /edgelm gateway stopped/);
    } finally {
      client?.close();
      if (child.exitCode === null) child.kill("SIGKILL");
      cleanup();
    }
  });
});
