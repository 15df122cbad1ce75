/**
 * A fleet rollout end to end: Debian's docker-registry on 127.0.0.1, three
 * gateways following one tag (one canary, two in wave1), a client load on
 * every gateway through every switch. A good new digest reaches the canary
 * first and the others only after the canary published its healthy tag; a
 * bad one (its EOS is the first token the smoke prompt would produce, so it
 * answers nothing) fails the canary's gate, is refused, and never reaches
 * the others; an operator rollback serves the previous version again.
 * Versions are stories260K copies that differ in their metadata.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { EdgeNode } from "../../src/edge-node.js";
import { GgufValueType } from "../../src/gguf/gguf-values.js";
import { RegistryClient } from "../../src/store/oci/registry-client.js";
import { writeStoriesCopy } from "../engine/templated-model.js";
import { runCli, tempHome } from "../helpers.js";
import { waitFor } from "../server/gateway-fixture.js";
import { TestRegistry } from "../store/oci/registry-fixture.js";
import type { RolloutReport } from "../../src/scheduler/served-model.js";
import { ClientLoad, sampleValue } from "./client-load.js";

/** stories260K's first greedy token after "Hello" ("was"): as EOS it makes the model answer nothing. */
const FIRST_TOKEN_AFTER_HELLO = 286;
const SMOKE = [{ prompt: "Hello", max_tokens: 4, non_empty: true }];

describe("fleet rollout: three gateways follow one tag in a real registry", () => {
  let registry: TestRegistry;
  const publisher = tempHome();
  const homes: Array<{ home: string; cleanup: () => void }> = [];
  const nodes: EdgeNode[] = [];
  let follow: string;
  let env: Record<string, string>;

  /** Adds a version to the publisher's store and pushes it to the followed tag; returns its manifest digest. */
  async function publish(version: string, eos?: number): Promise<string> {
    const path = await writeStoriesCopy(publisher.home, `${version}.gguf`, {
      "general.name": { type: GgufValueType.STRING, value: `kiosk assistant ${version}` },
      ...(eos !== undefined ? { "tokenizer.ggml.eos_token_id": { type: GgufValueType.UINT32, value: eos } } : {}),
    });
    const added = await runCli(["add", path, "--name", `kiosk:${version}`], { env });
    assert.equal(added.code, 0, added.stderr);
    const pushed = await runCli(["push", `kiosk:${version}`, follow, "--json"], { env });
    assert.equal(pushed.code, 0, pushed.stderr);
    return (JSON.parse(pushed.stdout) as { digest: string }).digest;
  }

  async function gateway(group: string): Promise<EdgeNode> {
    const dir = tempHome();
    homes.push(dir);
    const flags: ConfigInput = {
      server: {
        port: 0,
        parallel: 2,
        queue: 64,
        models: [{ name: "kiosk", follow, context_size: 256, threads: { decode: 1, prompt: 1 } }],
        rollout: { group, waves: [{ group: "canary", healthy_for_s: 3 }, { group: "wave1", healthy_for_s: 1 }], poll_interval_s: 1, poll_jitter: 0.2, smoke: SMOKE },
      },
    };
    const { config } = loadConfig({ flags, env: { EDGELM_HOME: dir.home, EDGELM_OCI_INSECURE: registry.host } });
    const node = await EdgeNode.create(config);
    await node.listen();
    await node.whenReady();
    nodes.push(node);
    return node;
  }

  const report = (node: EdgeNode): RolloutReport => node.gateway.status("kiosk").rollout as RolloutReport;

  before(async () => {
    registry = await TestRegistry.start();
    follow = `oci://${registry.host}/kiosk/assistant:stable`;
    env = { EDGELM_HOME: publisher.home, EDGELM_OCI_INSECURE: registry.host };
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close({ graceMs: 0 })));
    for (const h of homes) h.cleanup();
    publisher.cleanup();
    await registry.stop();
  });

  it("takes a good digest on the canary first, then on wave1; refuses a bad one on the canary only; zero failed requests throughout", { timeout: 900_000 }, async (t) => {
    const began = Date.now();
    const mark = (what: string): void => t.diagnostic(`${((Date.now() - began) / 1000).toFixed(1)} s: ${what}`);
    const v1 = await publish("v1");
    const canary = await gateway("canary");
    const waveA = await gateway("wave1");
    const waveB = await gateway("wave1");
    const fleet = [canary, waveA, waveB];
    for (const node of fleet) {
      assert.equal(report(node).digest, v1, "every gateway starts on the tag's first version");
      assert.equal(node.gateway.status("kiosk").state, "ready");
    }
    assert.equal(report(waveA).polls, `${follow}-healthy-canary`, "wave1 follows the canary's healthy tag");

    mark("three gateways serve v1");
    const load = new ClientLoad(fleet.map((n) => n.gateway.url), "kiosk", 1);
    load.start();
    try {
      // A good new version.
      const v2 = await publish("v2");
      await waitFor(() => report(canary).digest === v2, 240_000, "the canary to serve v2");
      assert.equal(report(waveA).digest, v1, "wave1 has not taken v2 before the canary served it healthily");
      assert.equal(report(waveB).digest, v1);
      mark("the canary serves v2");
      await waitFor(() => report(canary).state === "published", 240_000, "the canary to publish v2 as healthy");
      const healthy = await new RegistryClient(registry.host, canary.config).getManifest("kiosk/assistant", "stable-healthy-canary");
      assert.equal(healthy.digest, v2, "the canary's healthy tag points at v2");
      await waitFor(() => report(waveA).digest === v2 && report(waveB).digest === v2, 240_000, "wave1 to serve v2");
      mark("wave1 serves v2");
      assert.equal(report(waveA).previous?.digest, v1, "the previous version is kept for rollback");

      // A bad one: fails the smoke set on the canary, which keeps serving v2.
      const v3 = await publish("v3-bad", FIRST_TOKEN_AFTER_HELLO);
      await waitFor(() => report(canary).refused.some((r) => r.digest === v3), 240_000, "the canary to refuse v3");
      mark("the canary refused v3");
      assert.equal(report(canary).digest, v2, "the canary still serves v2");
      assert.equal(report(canary).state, "failed");
      assert.match(report(canary).reason ?? "", /health gate.*empty/);
      assert.ok(canary.ops!.alerts.active().some((a) => a.name === "EdgelmRolloutRefused" && a.labels.digest === v3), "the refusal fired an alert");
      const checks = (await (await fetch(`${canary.gateway.url}/admin/rollout/check`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).json()) as { checks: Array<{ result: string }> };
      assert.equal(checks.checks[0].result, "refused", "a refused digest is not tried again");
      await new Promise((r) => setTimeout(r, 4000)); // several poll intervals of wave1
      assert.equal((await new RegistryClient(registry.host, canary.config).getManifest("kiosk/assistant", "stable-healthy-canary")).digest, v2);
      assert.equal(report(waveA).digest, v2, "v3 never reaches wave1");
      assert.equal(report(waveB).digest, v2);

      // What each gateway reports.
      const ready = (await (await fetch(`${waveA.gateway.url}/ready`)).json()) as { models: Array<{ rollout: RolloutReport }> };
      assert.equal(ready.models[0].rollout.digest, v2);
      const ps = (await (await fetch(`${waveA.gateway.url}/api/ps`)).json()) as { models: Array<{ edgelm: { rollout: RolloutReport } }> };
      assert.equal(ps.models[0].edgelm.rollout.digest, v2);
      const metrics = await (await fetch(`${canary.gateway.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`edgelm_model_info\\{[^}]*digest="${v2}"`));
      assert.match(metrics, /edgelm_rollout_refused_total\{model="kiosk"\} 1/);
      assert.match(metrics, /edgelm_rollout_switches_total\{model="kiosk",mode="overlap"\} 1/);

      // An operator rollback on one wave1 gateway, through the CLI.
      const rolled = await runCli(["admin", "rollback", "kiosk", "--url", waveB.gateway.url, "--json"]);
      assert.equal(rolled.code, 0, rolled.stderr);
      assert.equal(JSON.parse(rolled.stdout).rollout.digest, v1);
      assert.equal(report(waveB).digest, v1);
      assert.ok(report(waveB).refused.some((r) => r.digest === v2), "the rolled-back digest is not taken again");
      const status = await runCli(["admin", "rollout", "status", "--url", waveB.gateway.url]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /kiosk {2}rolled_back/);
    } finally {
      await load.stop();
    }
    const gaps: string[] = [];
    for (const node of fleet) {
      const page = await (await fetch(`${node.gateway.url}/metrics`)).text();
      gaps.push(`${((sampleValue(page, 'edgelm_rollout_unavailable_seconds_total{model="kiosk"}') ?? Number.NaN) * 1000).toFixed(3)} ms`);
    }
    t.diagnostic(`client requests: ${load.ok} ok, ${load.failed} failed, slowest ${Math.round(load.slowestMs)} ms; time without service over all swaps, per gateway: ${gaps.join(", ")}`);
    assert.ok(load.ok > 50, `the load ran (${load.ok} requests)`);
    assert.equal(load.failed, 0, `no client request failed through the switches: ${load.failures.slice(0, 3).join("; ")}`);
  });
});
