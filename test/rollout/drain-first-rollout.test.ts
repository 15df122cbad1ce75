/**
 * A rollout under the "both versions do not fit" branch of the memory rule
 * (`server.rollout.swap: drain-first`): the old runner drains and stops before
 * the new one loads, requests arriving meanwhile wait in the queue, and the
 * gap is measured. A version failing its gate there brings the old one back.
 * One gateway, no waves, checks on demand (POST /admin/rollout/check).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { EdgeNode } from "../../src/edge-node.js";
import { GgufValueType } from "../../src/gguf/gguf-values.js";
import type { RolloutReport } from "../../src/scheduler/served-model.js";
import { writeStoriesCopy } from "../engine/templated-model.js";
import { runCli, tempHome } from "../helpers.js";
import { TestRegistry } from "../store/oci/registry-fixture.js";
import { ClientLoad, sampleValue } from "./client-load.js";

describe("drain-first rollout", () => {
  let registry: TestRegistry;
  const publisher = tempHome();
  const served = tempHome();
  let node: EdgeNode;
  let env: Record<string, string>;
  let follow: string;

  async function publish(version: string, eos?: number): Promise<string> {
    const path = await writeStoriesCopy(publisher.home, `${version}.gguf`, {
      "general.name": { type: GgufValueType.STRING, value: `kiosk assistant ${version}` },
      ...(eos !== undefined ? { "tokenizer.ggml.eos_token_id": { type: GgufValueType.UINT32, value: eos } } : {}),
    });
    assert.equal((await runCli(["add", path, "--name", `kiosk:${version}`], { env })).code, 0);
    const pushed = await runCli(["push", `kiosk:${version}`, follow, "--json"], { env });
    assert.equal(pushed.code, 0, pushed.stderr);
    return (JSON.parse(pushed.stdout) as { digest: string }).digest;
  }

  const check = async (): Promise<{ result: string; detail: string }> => {
    const response = await fetch(`${node.gateway.url}/admin/rollout/check`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"model": "kiosk"}' });
    assert.equal(response.status, 200);
    return ((await response.json()) as { checks: Array<{ result: string; detail: string }> }).checks[0]!;
  };
  const report = (): RolloutReport => node.gateway.status("kiosk").rollout!;

  before(async () => {
    registry = await TestRegistry.start();
    follow = `oci://${registry.host}/kiosk/assistant:stable`;
    env = { EDGELM_HOME: publisher.home, EDGELM_OCI_INSECURE: registry.host };
  });
  after(async () => {
    await node?.close({ graceMs: 0 });
    served.cleanup();
    publisher.cleanup();
    await registry.stop();
  });

  it("drains, unloads and loads with requests waiting (none fails), reports the gap, and brings the old version back when the new one fails", { timeout: 180_000 }, async (t) => {
    const v1 = await publish("v1");
    const { config } = loadConfig({
      flags: {
        server: {
          port: 0,
          parallel: 2,
          models: [{ name: "kiosk", follow, context_size: 256, threads: { decode: 1, prompt: 1 } }],
          rollout: { poll_interval_s: 3600, swap: "drain-first", smoke: [{ prompt: "Hello", max_tokens: 4 }] },
        },
      },
      env: { EDGELM_HOME: served.home, EDGELM_OCI_INSECURE: registry.host },
    });
    node = await EdgeNode.create(config);
    await node.listen();
    await node.whenReady();
    assert.equal(report().digest, v1);
    const load = new ClientLoad([node.gateway.url], "kiosk", 1);
    load.start();
    let gapSeconds: number | undefined;
    try {
      const v2 = await publish("v2");
      const taken = await check();
      assert.equal(taken.result, "new", taken.detail);
      assert.match(taken.detail, /drain-first/);
      assert.equal(report().digest, v2);
      const page = await (await fetch(`${node.gateway.url}/metrics`)).text();
      gapSeconds = sampleValue(page, 'edgelm_rollout_last_unavailable_seconds{model="kiosk"}');
      assert.ok(gapSeconds !== undefined && gapSeconds > 0, `a drain-first swap has a measured gap (${gapSeconds})`);

      const v3 = await publish("v3-bad", 286);
      const refused = await check();
      assert.equal(refused.result, "refused");
      assert.match(refused.detail, /health gate/);
      assert.equal(report().digest, v2, "v2 still recorded as serving");
      assert.equal(node.gateway.status("kiosk").state, "ready", "the old version was loaded again");
      assert.ok(report().refused.some((r) => r.digest === v3));
    } finally {
      await load.stop();
    }
    t.diagnostic(`drain-first: ${load.ok} requests ok, ${load.failed} failed, slowest ${Math.round(load.slowestMs)} ms; gap without a runner ${((gapSeconds ?? Number.NaN) * 1000).toFixed(0)} ms`);
    assert.ok(load.ok > 5);
    assert.equal(load.failed, 0, load.failures.slice(0, 3).join("; "));
  });
});
