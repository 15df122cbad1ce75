import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { startGateway, storiesModel, waitFor, type GatewayFixture } from "../server/gateway-fixture.js";
import { startFakeOpenAI, type FakeOpenAIServer } from "./fake-openai-server.js";
import { ManualClock } from "../support/manual-clock.js";

/** A gateway routing "auto": stories260K locally, a peer edgelm gateway, and a test-owned cloud. */
describe("routed models in the gateway: local first, peers for overflow, cloud for hard queries", () => {
  let cloud: FakeOpenAIServer;
  let peer: GatewayFixture;
  let edge: GatewayFixture;
  let client: OpenAI;
  /** The edge's breaker clock: the test moves it past open_ms instead of sleeping. */
  const clock = new ManualClock();

  before(async () => {
    cloud = await startFakeOpenAI("cloud");
    peer = await startGateway({ models: [storiesModel({ parallel: 2 })] });
    edge = await startGateway({
      now: clock.now,
      models: [storiesModel({ parallel: 1 })],
      server: { queue: 0 },
      config: {
        router: {
          cloud: { base_url: cloud.url, api_key: "cloud-secret", model: "big", timeout_ms: 500 },
          peers: [{ name: "line-2", base_url: `${peer.url}/v1`, model: "stories", timeout_ms: 2000 }],
          breaker: { failure_threshold: 2, open_ms: 400 },
          private_api_keys: ["kiosk-key"],
          routes: [
            {
              name: "auto",
              local: "stories",
              rules: [
                { name: "legal", when: { keywords: ["contract"] }, to: "cloud" },
                { when: { header: "cloud" }, to: "cloud" },
              ],
            },
          ],
        },
      },
    });
    client = new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    await edge?.close();
    await peer?.close();
    await cloud?.close();
  });

  it("lists the routed model and answers locally by default", async () => {
    const models = await client.models.list();
    assert.ok(models.data.some((m) => m.id === "auto"));
    const { data, response } = await client.completions.create({ model: "auto", prompt: "Once upon a time", max_tokens: 8, temperature: 0 }).withResponse();
    assert.equal(response.headers.get("x-edgelm-route"), "local");
    assert.equal(response.headers.get("x-edgelm-route-reason"), "default");
    assert.ok(data.choices[0]!.text.length > 0);
  });

  it("sends hard queries to the cloud with personal data redacted, and restores it in the answer", async () => {
    cloud.received.length = 0;
    const content = "Check this contract for anna@example.com, card 4111 1111 1111 1111.";
    const { data, response } = await client.chat.completions
      .create({ model: "auto", messages: [{ role: "user", content }], max_tokens: 50 })
      .withResponse();
    assert.equal(response.headers.get("x-edgelm-route"), "cloud");
    assert.equal(response.headers.get("x-edgelm-served-by"), "cloud");
    assert.match(response.headers.get("x-edgelm-route-reason")!, /rule legal: keyword "contract"/);
    assert.equal(data.choices[0]!.message.content, `cloud echo: ${content}`);
    const sent = JSON.stringify(cloud.received.at(-1)!.body);
    assert.doesNotMatch(sent, /anna@example\.com|4111/);
    assert.equal(cloud.received.at(-1)!.headers.authorization, "Bearer cloud-secret");

    // Streamed: placeholders split across SSE chunks are restored too.
    cloud.pieceSize = 2;
    const stream = await client.chat.completions.create({ model: "auto", messages: [{ role: "user", content }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    assert.equal(text, `cloud echo: ${content}`);
    cloud.pieceSize = 3;
  });

  it("keeps requests with a private API key on the device", async () => {
    cloud.received.length = 0;
    const priv = new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: "kiosk-key", maxRetries: 0 });
    const { response } = await priv.completions.create({ model: "auto", prompt: "a contract", max_tokens: 4 }).withResponse();
    assert.equal(response.headers.get("x-edgelm-route"), "local");
    assert.equal(cloud.received.length, 0);
  });

  it("falls back to local when the cloud is slow or failing, and opens its circuit", async () => {
    cloud.mode = "stall";
    const slow = await client.completions.create({ model: "auto", prompt: "a contract", max_tokens: 4 }).withResponse();
    assert.equal(slow.response.headers.get("x-edgelm-route"), "local");
    assert.match(slow.response.headers.get("x-edgelm-route-reason")!, /fallback: upstream cloud sent nothing for 500 ms/);
    cloud.mode = "error500";
    await client.completions.create({ model: "auto", prompt: "a contract", max_tokens: 4 });
    cloud.received.length = 0;
    const skipped = await client.completions.create({ model: "auto", prompt: "a contract", max_tokens: 4 }).withResponse();
    assert.match(skipped.response.headers.get("x-edgelm-route-reason")!, /circuit open/);
    assert.equal(cloud.received.length, 0, "the open circuit kept the request from the cloud");
    cloud.mode = "ok";
    clock.advance(450);
    const probe = await client.completions.create({ model: "auto", prompt: "a contract", max_tokens: 4 }).withResponse();
    assert.equal(probe.response.headers.get("x-edgelm-route"), "cloud", "half-open probe reaches the recovered cloud");
    assert.equal(edge.node.routing.router!.breakerStates().cloud, "closed");
  });

  it("sends overflow to the peer gateway when the local queue is full", async () => {
    // One slot, no queue: hold it with a long stream, then ask again.
    const controller = new AbortController();
    const long = await client.completions.create(
      { model: "auto", prompt: "Once upon a time", max_tokens: 400, stream: true },
      { signal: controller.signal },
    );
    const iterator = long[Symbol.asyncIterator]();
    await iterator.next();
    try {
      const { data, response } = await client.completions.create({ model: "auto", prompt: "Once upon a time", max_tokens: 6, temperature: 0 }).withResponse();
      assert.equal(response.headers.get("x-edgelm-route"), "peer");
      assert.equal(response.headers.get("x-edgelm-served-by"), "line-2");
      assert.equal(response.headers.get("x-edgelm-route-reason"), "overflow: local queue full");
      assert.ok(data.choices[0]!.text.length > 0);
    } finally {
      controller.abort();
      await iterator.return?.();
    }
    await waitFor(() => edge.gateway.pool("stories").describe().queue.inFlight === 0, 5000, "the slot to free");
  });
});
