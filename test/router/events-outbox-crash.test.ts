import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CLI, tempHome } from "../helpers.js";
import { startDedupReceiver } from "./dedup-receiver.js";
import { freePort } from "../../src/free-port.js";

/** `edgelm serve` in a child process; resolves once it listens. */
async function startServe(home: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, "serve", "--port", String(port)], {
    env: { ...process.env, EDGELM_HOME: home, EDGELM_LOG_LEVEL: "error" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("listening on")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`edgelm serve exited with ${code}`)));
  });
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

describe("POST /v1/events: the outbox survives kill -9 of the gateway", () => {
  let home: string;
  let cleanup: () => void;
  before(() => ({ home, cleanup } = tempHome()));
  after(() => cleanup());

  it("accepts 1,000 events while the cloud is down, and after two crashes delivers every one exactly once, in order", async () => {
    const receiverPort = await freePort();
    const gatewayPort = await freePort();
    writeFileSync(
      join(home, "config.yaml"),
      `router:\n  events:\n    url: http://127.0.0.1:${receiverPort}/v1/events\n    timeout_ms: 1000\nserver:\n  parallel: 1\n`,
    );
    let serve = await startServe(home, gatewayPort);
    const url = `http://127.0.0.1:${gatewayPort}/v1/events`;
    for (let batch = 0; batch < 10; batch++) {
      // Sequential within a batch keeps the order deterministic; batches go one after the other.
      for (let i = batch * 100; i < (batch + 1) * 100; i++) {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": `cam-${String(i).padStart(4, "0")}` },
          body: JSON.stringify({ camera: "gate-3", n: i }),
        });
        assert.equal(response.status, 202, await response.text());
      }
    }
    const bad = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: "42" });
    assert.equal(bad.status, 400);
    await kill9(serve);

    // After 300 events the receiver stops answering: the gateway is surely mid-forward when it is killed.
    const receiver = await startDedupReceiver(receiverPort, (body, key) => assert.equal((body as { id: string }).id, key), { holdAfter: 300 });
    try {
      serve = await startServe(home, gatewayPort);
      const deadline = Date.now() + 60_000;
      while (receiver.keys.length < 300 || receiver.held() === 0) {
        if (Date.now() > deadline) throw new Error(`only ${receiver.keys.length} events arrived`);
        await new Promise((r) => setTimeout(r, 10));
      }
      await kill9(serve); // mid-forward
      assert.ok(receiver.keys.length < 1000, `killed mid-forward (${receiver.keys.length} of 1000 received)`);
      receiver.release();
      serve = await startServe(home, gatewayPort);
      while (receiver.keys.length < 1000) {
        if (Date.now() > deadline) throw new Error(`only ${receiver.keys.length} events arrived`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(receiver.keys, [...Array(1000).keys()].map((i) => `cam-${String(i).padStart(4, "0")}`));
      assert.ok(receiver.posts() <= 1002, `duplicates only from the crashes: ${receiver.posts()} posts`);
    } finally {
      await kill9(serve);
      await receiver.close();
    }
  });
});
