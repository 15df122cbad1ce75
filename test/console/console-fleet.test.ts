/**
 * The fleet view with real peers: gateway A routes to gateway B (a second real
 * gateway on 127.0.0.1:0) and to an address where nothing listens. A's console
 * shows B ready with its models and load, and the dead peer unreachable with
 * the reason, within the probe's timeout.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ConsoleState } from "../../src/console/console-routes.js";
import { gatewayRoot } from "../../src/console/fleet-probe.js";
import { freePort } from "../../src/free-port.js";
import { startOpsGateway, type OpsFixture } from "../ops/ops-gateway-fixture.js";
import { demoModel, startGateway, type GatewayFixture } from "../server/gateway-fixture.js";
import { openConsoleBrowser, type ConsoleBrowser } from "./console-browser.js";

const PEER_KEY = "peer-b-key";

describe("the fleet view asks each peer about itself", () => {
  let peer: GatewayFixture;
  let gateway: OpsFixture;
  let browser: ConsoleBrowser;
  before(async () => {
    // A port that was free a moment ago: nothing listens there, the connection is refused.
    const deadPort = await freePort();
    peer = await startGateway({ models: [demoModel({ name: "kiosk" })], server: { api_keys: [PEER_KEY] } });
    gateway = await startOpsGateway({
      models: [demoModel()],
      config: {
        router: {
          peers: [
            { name: "b", base_url: `${peer.url}/v1`, api_key: PEER_KEY, model: "kiosk", redact: false },
            { name: "gone", base_url: `http://127.0.0.1:${deadPort}/v1` },
          ],
          routes: [{ name: "assist", local: "demo" }],
        },
      },
    });
    browser = await openConsoleBrowser();
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    await peer?.close();
  });

  it("the gateway's root is the base URL without /v1", () => {
    assert.equal(gatewayRoot("http://10.0.0.2:11435/v1"), "http://10.0.0.2:11435");
    assert.equal(gatewayRoot("http://10.0.0.2:11435/v1/"), "http://10.0.0.2:11435");
    assert.equal(gatewayRoot("http://10.0.0.2:11435"), "http://10.0.0.2:11435");
  });

  it("the state reports the live peer's models and load, and the dead one unreachable with the reason, quickly", async () => {
    const started = Date.now();
    const state = (await (await fetch(`${gateway.url}/console/api/state`)).json()) as ConsoleState;
    assert.ok(Date.now() - started < 5000, "the probe does not hold the page up");
    const [b, gone] = state.fleet;
    assert.equal(b?.name, "b");
    assert.equal(b.health, "ready");
    assert.equal(b.url, peer.url);
    assert.deepEqual(b.models.map((m) => [m.name, m.state]), [["kiosk", "ready"]]);
    assert.equal(b.inFlight, 0, "the peer's /api/ps answered with its key");
    assert.equal(b.breaker, "closed");
    assert.equal(gone?.health, "unreachable");
    assert.match(gone.detail ?? "", /127\.0\.0\.1:\d+\/ready: .*ECONNREFUSED/);
    assert.deepEqual(state.routing, { weights: { peer: 0, cloud: 0 }, peers: 2 });
  });

  it("the Fleet page shows both peers", async () => {
    const page = browser.page;
    await page.goto(`${gateway.url}/console/#fleet`);
    const table = page.locator("#peers");
    await table.locator("tbody tr").nth(1).waitFor();
    const rows = await table.locator("tbody tr").allTextContents();
    assert.match(rows[0]!, /^b\s*ready\s*closed\s*kiosk: ready\s*0/);
    assert.match(rows[1]!, /^gone\s*unreachable \(.*ECONNREFUSED.*\)/);
    assert.match((await page.locator("#fleet").textContent()) ?? "", /2 peer gateway\(s\)/);
    await browser.screenshot("08-fleet-peers");
  });

  it("routing weights set from the dashboard send the next chat to the peer, and the answer says where and why", async () => {
    const page = browser.page;
    await page.getByRole("tab", { name: "Dashboard" }).click();
    await page.getByLabel("Peer share").fill("1");
    await page.getByLabel("Cloud share").fill("0");
    await page.getByRole("button", { name: "Set weights…" }).click();
    assert.match((await page.getByRole("dialog").textContent()) ?? "", /Send 100% of load to peers and 0% to the cloud\?/);
    await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await page.locator("#admin-result", { hasText: "Weights now peer 1, cloud 0" }).waitFor({ timeout: 10_000 });
    assert.deepEqual(gateway.node.routing.weights()!.getWeights(), { peer: 1, cloud: 0 });
    await page.getByRole("tab", { name: "Playground" }).click();
    await page.getByLabel("Model", { exact: true }).selectOption("assist");
    await page.getByLabel("Max tokens").fill("8");
    await page.getByLabel("Message", { exact: true }).fill("the cat");
    await page.getByRole("button", { name: "Send" }).click();
    const facts = page.locator(".msg.assistant .facts", { hasText: "TTFT" });
    await facts.waitFor({ timeout: 30_000 });
    assert.match((await facts.textContent()) ?? "", /^route peer \(b\): \S.*· TTFT \d+ ms/);
    assert.deepEqual(browser.blocked, []);
    assert.deepEqual(browser.problems, []);
  });
});
