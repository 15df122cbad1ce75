import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { routerSection } from "../../src/config/sections/router.js";
import { DnsPeerDiscovery, type DiscoveredPeer } from "../../src/router/dns-peer-discovery.js";
import { startGateway, storiesModel, waitFor, type GatewayFixture } from "../server/gateway-fixture.js";
import { TestDnsServer } from "./dns-server.js";

const NAME = "edgelm-peers.default.svc";

function discovery(dns: TestDnsServer, extra: Record<string, unknown> = {}, options: { selfPort?: number; selfAddresses?: Set<string> } = {}) {
  const seen: DiscoveredPeer[][] = [];
  const errors: string[] = [];
  const config = routerSection.parse({ peers_dns: { name: NAME, port: 11435, servers: [dns.address], ...extra } }).peers_dns!;
  const found = new DnsPeerDiscovery(config, { onPeers: (peers) => seen.push(peers), onError: (e) => errors.push(e.message), ...options });
  return { found, seen, errors };
}

describe("router.peers_dns: peers from a DNS name's A/AAAA records", () => {
  let dns: TestDnsServer;
  before(async () => {
    dns = await TestDnsServer.start();
  });
  after(async () => {
    await dns?.close();
  });

  it("accepts the name alone and fills the defaults", () => {
    const parsed = routerSection.parse({ peers_dns: NAME }).peers_dns!;
    assert.equal(parsed.name, NAME);
    assert.equal(parsed.port, 11435);
    assert.equal(parsed.interval_ms, 15_000);
    assert.throws(() => routerSection.parse({ peers_dns: { name: NAME, interval_ms: 10 } }));
  });

  it("turns A and AAAA records into peers, leaves this gateway out, and follows changes", async () => {
    dns.set(NAME, { A: ["10.42.0.7", "10.42.0.5", "10.42.0.9"], AAAA: ["fd00::5"] });
    const { found, seen } = discovery(dns, {}, { selfPort: 11435, selfAddresses: new Set(["10.42.0.9"]) });
    const peers = await found.refresh();
    assert.deepEqual(
      peers.map((p) => [p.name, p.baseUrl]),
      [
        ["dns:10.42.0.5", "http://10.42.0.5:11435/v1"],
        ["dns:10.42.0.7", "http://10.42.0.7:11435/v1"],
        ["dns:fd00::5", "http://[fd00::5]:11435/v1"],
      ],
    );
    assert.equal(seen.length, 1);
    await found.refresh();
    assert.equal(seen.length, 1, "an unchanged answer is not reported again");
    dns.set(NAME, { A: ["10.42.0.7"] });
    assert.deepEqual((await found.refresh()).map((p) => p.address), ["10.42.0.7"]);
    assert.equal(seen.length, 2);
    assert.ok(dns.questions.includes(`${NAME} A`) && dns.questions.includes(`${NAME} AAAA`));
  });

  it("an unknown name is no peers; a DNS server that does not answer is a clear error and the last peers stay", async () => {
    const { found, seen, errors } = discovery(dns, { name: "nobody.default.svc" });
    assert.deepEqual(await found.refresh(), []);
    const silent = await TestDnsServer.start();
    const port = silent.port;
    await silent.close(); // nothing listens there now
    const broken = discovery(dns, { servers: [`127.0.0.1:${port}`] });
    await assert.rejects(broken.found.refresh(), new RegExp(`peers_dns: cannot resolve ${NAME.replace(/\./g, "\\.")}`));
    assert.equal(broken.errors.length, 1);
    assert.deepEqual(broken.seen, []);
    assert.deepEqual(seen, []);
    assert.deepEqual(errors, []);
  });
});

describe("a gateway finds its peer through router.peers_dns and overflows to it", () => {
  let dns: TestDnsServer;
  let peer: GatewayFixture;
  let edge: GatewayFixture;

  before(async () => {
    dns = await TestDnsServer.start();
    peer = await startGateway({ models: [storiesModel({ parallel: 2 })] });
    dns.set(NAME, {});
    edge = await startGateway({
      models: [storiesModel({ parallel: 1 })],
      config: {
        router: {
          peers_dns: { name: NAME, port: Number(new URL(peer.url).port), servers: [dns.address], interval_ms: 1000, model: "stories", timeout_ms: 5000 },
          routes: [{ name: "auto", local: "stories", rules: [{ when: { header: "peer" }, to: "peer" }], fallback: false }],
        },
      },
    });
  });
  after(async () => {
    await edge?.close();
    await peer?.close();
    await dns?.close();
  });

  it("answers through the peer once DNS lists it, and stops when DNS drops it", async () => {
    const client = new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: "unused", maxRetries: 0, defaultHeaders: { "x-edgelm-route": "peer" } });
    await assert.rejects(client.completions.create({ model: "auto", prompt: "Once upon a time", max_tokens: 4 }), /no peer upstream configured/);
    dns.set(NAME, { A: ["127.0.0.1"] });
    await waitFor(() => edge.node.routing.router?.peerNames.includes("dns:127.0.0.1") === true, 5000);
    const { data, response } = await client.completions.create({ model: "auto", prompt: "Once upon a time", max_tokens: 8, temperature: 0 }).withResponse();
    assert.equal(response.headers.get("x-edgelm-route"), "peer");
    assert.equal(response.headers.get("x-edgelm-served-by"), "dns:127.0.0.1");
    assert.ok(data.choices[0]!.text.length > 0);
    dns.set(NAME, {});
    await waitFor(() => edge.node.routing.router?.peerNames.length === 0, 5000);
  });
});
