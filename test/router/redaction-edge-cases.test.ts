import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { Redactor } from "../../src/router/redactor.js";
import { startGateway, storiesModel, type GatewayFixture } from "../server/gateway-fixture.js";
import { startFakeOpenAI, type FakeOpenAIServer } from "./fake-openai-server.js";
import { EDGE_CASES_SET } from "./pii-edge-cases-set.js";
import { describeScore, scoreRedaction } from "./score-redaction.js";

describe("redaction of cards with what follows them, zero-padded IPv4 and ITINs", () => {
  it("has its own labelled set: cards with expiry / CVV / punctuation, padded IPs, ITINs, and near-misses", () => {
    const count = (kind: string) => EDGE_CASES_SET.filter((x) => x.pii.some((p) => p.kind === kind)).length;
    assert.ok(count("card") >= 60 && count("ip") >= 20 && count("national_id") >= 20, `${count("card")} cards, ${count("ip")} IPs, ${count("national_id")} ITINs`);
    assert.ok(EDGE_CASES_SET.filter((x) => x.pii.length === 0).length >= 75);
  });

  it("finds each kind with recall >= 0.99 and leaves >= 0.95 of the near-misses intact", () => {
    const score = scoreRedaction(new Redactor(), EDGE_CASES_SET);
    const report = `${describeScore(score)}\nnear-misses intact ${score.nearMissesIntact}/${score.nearMisses}`;
    console.log(`redaction on ${EDGE_CASES_SET.length} edge cases:\n${report}`);
    for (const kind of ["card", "ip", "national_id"] as const) {
      assert.ok(score.byKind[kind]!.recall >= 0.99, `${kind}\n${report}\n${score.misses.join("\n")}`);
    }
    assert.ok(score.nearMissesIntact / score.nearMisses >= 0.95, `${report}\n${score.misses.join("\n")}`);
  });

  describe("through a routed model to a recording cloud", () => {
    let cloud: FakeOpenAIServer;
    let edge: GatewayFixture;
    let client: OpenAI;
    before(async () => {
      cloud = await startFakeOpenAI("cloud");
      edge = await startGateway({
        models: [storiesModel({ parallel: 1 })],
        config: {
          router: {
            cloud: { base_url: cloud.url, api_key: "cloud-secret", model: "big", timeout_ms: 2000 },
            routes: [{ name: "auto", local: "stories", rules: [{ when: { header: "cloud" }, to: "cloud" }] }],
          },
        },
      });
      client = new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: "unused", maxRetries: 0 });
    });
    after(async () => {
      await edge?.close();
      await cloud?.close();
    });

    it("no labelled value reaches the cloud, near-misses arrive as written, every answer is restored", async () => {
      const leaked: string[] = [];
      let nearIntact = 0;
      let nearMisses = 0;
      for (const example of EDGE_CASES_SET) {
        cloud.received.length = 0;
        const { data, response } = await client.chat.completions
          .create({ model: "auto", messages: [{ role: "user", content: example.text }], max_tokens: 50 }, { headers: { "x-edgelm-route": "cloud" } })
          .withResponse();
        assert.equal(response.headers.get("x-edgelm-served-by"), "cloud");
        assert.equal(data.choices[0]!.message.content, `cloud echo: ${example.text}`);
        const sent = ((cloud.received.at(-1)!.body.messages as Array<{ content: string }>).at(-1)!).content;
        for (const p of example.pii) if (sent.includes(p.value)) leaked.push(`${p.kind} ${p.value} in: ${sent}`);
        if (example.pii.length === 0) {
          nearMisses++;
          if (sent === example.text) nearIntact++;
        }
      }
      const items = EDGE_CASES_SET.reduce((n, x) => n + x.pii.length, 0);
      console.log(`through the gateway: ${items - leaked.length}/${items} items redacted, near-misses intact ${nearIntact}/${nearMisses}`);
      assert.ok((items - leaked.length) / items >= 0.99, leaked.join("\n"));
      assert.ok(nearIntact / nearMisses >= 0.95, `${nearIntact}/${nearMisses}`);
    });
  });
});
