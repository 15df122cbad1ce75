import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { runCli } from "../helpers.js";
import { startGateway, type GatewayFixture } from "../server/gateway-fixture.js";
import { startOpsGateway, type OpsFixture } from "./ops-gateway-fixture.js";

describe("shifting load to a peer through the router", () => {
  let peer: GatewayFixture;
  let edge: OpsFixture;
  let cpu = 40;
  before(async () => {
    peer = await startGateway({ models: [{ name: "demo", ref: "demo", parallel: 2, threads: { decode: 1, prompt: 1 } }] });
    edge = await startOpsGateway({
      models: [{ name: "demo", ref: "demo", parallel: 2, threads: { decode: 1, prompt: 1 } }],
      config: {
        router: {
          peers: [{ name: "line-2", base_url: `${peer.url}/v1`, model: "demo", timeout_ms: 5000 }],
          routes: [{ name: "auto", local: "demo" }],
        },
        policies: {
          interval_s: 0.1,
          peer_share: 0.5,
          rules: [{ name: "cpu_high", metric: "cpu_percent", threshold: 85, for_s: 0.2, hysteresis: 10, cooldown_s: 600, actions: ["add_runner", "shift_to_peer", "alert"] }],
        },
      },
      prepare: (ops) => ops.signals.set("cpu_percent", () => cpu),
    });
  });
  after(async () => {
    await edge?.close();
    await peer?.close();
  });

  async function routes(n: number): Promise<Record<string, number>> {
    const client = new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const { response } = await client.completions.create({ model: "auto", prompt: "the cat", max_tokens: 4 }).withResponse();
      const route = response.headers.get("x-edgelm-route") ?? "?";
      counts[route] = (counts[route] ?? 0) + 1;
    }
    return counts;
  }

  async function until(what: string, predicate: () => boolean): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("sustained CPU with no busy model shifts half of new requests to the peer, and back when it clears", async () => {
    assert.deepEqual(await routes(6), { local: 6 });
    cpu = 95;
    await until("the policy to act", () => edge.ops.policies.decisions().some((d) => d.outcome === "executed"));
    const decision = edge.ops.policies.decisions().find((d) => d.outcome === "executed")!;
    assert.equal(decision.action, "shift_to_peer");
    assert.deepEqual(decision.skipped, ["add_runner: no model has requests in flight"]);
    assert.equal(decision.detail, "sending 50% of new requests to peers (was 0%)");
    assert.deepEqual(edge.node.routing.router!.getWeights(), { peer: 0.5, cloud: 0 });
    const shifted = await routes(40);
    assert.ok((shifted.peer ?? 0) >= 5 && (shifted.local ?? 0) >= 5, JSON.stringify(shifted));

    cpu = 70;
    await until("the rule to clear and undo", () => edge.ops.policies.decisions().some((d) => d.outcome === "reverted"));
    assert.deepEqual(edge.node.routing.router!.getWeights(), { peer: 0, cloud: 0 });
    assert.deepEqual(await routes(6), { local: 6 });
  });

  it("edgelm admin weights sets the router's shares by hand", async () => {
    const set = await runCli(["admin", "weights", "--peer", "0.25", "--url", edge.url]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, "peer 0.25 (1 peers), cloud 0\n");
    assert.deepEqual(edge.node.routing.router!.getWeights(), { peer: 0.25, cloud: 0 });
    const bad = await runCli(["admin", "weights", "--peer", "2", "--url", edge.url]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--peer must be at most 1/);
    await runCli(["admin", "weights", "--peer", "0", "--url", edge.url]);
    assert.deepEqual(edge.node.routing.router!.getWeights(), { peer: 0, cloud: 0 });
  });
});
