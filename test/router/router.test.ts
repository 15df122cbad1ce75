import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { routerSection } from "../../src/config/sections/router.js";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import type { GenerateRequest, LoadedModel, TokenStream } from "../../src/engine/types.js";
import { EdgeError, isEdgeError } from "../../src/errors.js";
import { Router, type LocalTarget, type RoutedResult } from "../../src/router/router.js";
import { TEST_MODEL } from "../helpers.js";
import { ManualClock } from "../support/manual-clock.js";
import { startFakeOpenAI, type FakeOpenAIServer } from "./fake-openai-server.js";

async function text(result: RoutedResult): Promise<string> {
  let out = "";
  for await (const chunk of result.stream) out += chunk.text;
  const final = await result.stream.result;
  assert.equal(final.text, out, "streamed text equals the final text");
  return out;
}

describe("router (local, peer, cloud) against real HTTP upstreams", () => {
  let model: LoadedModel;
  let cloud: FakeOpenAIServer;
  let peer: FakeOpenAIServer;
  let queueFull = false;
  let local: LocalTarget;
  /** The breakers' clock: the test moves it past open_ms instead of sleeping. */
  const clock = new ManualClock();

  before(async () => {
    model = await new NodeLlamaCppBackend().load({ path: TEST_MODEL, threads: { decode: 1 }, contextSize: 256, parallel: 2 });
    cloud = await startFakeOpenAI("cloud");
    peer = await startFakeOpenAI("peer");
    local = {
      contextSize: 256,
      tokenize: (t) => model.tokenize(t),
      generate: async (request: GenerateRequest, signal?: AbortSignal): Promise<TokenStream> => {
        if (queueFull) throw new EdgeError("queue_full", "the queue is full", { retryAfter: 1 });
        return model.generate({ maxTokens: 8, temperature: 0, ...request }, signal);
      },
    };
  });
  after(async () => {
    await model?.dispose();
    await cloud?.close();
    await peer?.close();
  });

  function makeRouter(overrides: Record<string, unknown> = {}, routeOverrides: Record<string, unknown> = {}): Router {
    const config = routerSection.parse({
      cloud: { base_url: cloud.url, api_key: "cloud-key", model: "big-model", timeout_ms: 400 },
      peers: [{ name: "peer-b", base_url: peer.url, model: "stories", timeout_ms: 400 }],
      breaker: { failure_threshold: 2, open_ms: 300 },
      routes: [
        {
          name: "auto",
          local: "stories",
          rules: [
            { name: "long", when: { prompt_tokens_over: 40 }, to: "cloud" },
            { name: "legal", when: { keywords: ["contract", "lawsuit"] }, to: "cloud" },
            { when: { header: "peer" }, to: "peer" },
            { when: { exceeds_local_context: true }, to: "cloud" },
          ],
          ...routeOverrides,
        },
      ],
      ...overrides,
    });
    return new Router(config, {}, Math.random, clock.now);
  }

  it("answers locally by default", async () => {
    const result = await makeRouter().generate("auto", { prompt: "Once upon a time" }, local);
    assert.equal(result.route, "local");
    assert.equal(result.reason, "default");
    assert.ok((await text(result)).length > 0);
  });

  it("escalates by prompt length, keyword, header and context need, redacting on the way out", async () => {
    const router = makeRouter();
    cloud.received.length = 0;
    const long = "Please write to anna@example.com about card 4111 1111 1111 1111. " + "The machine is fine. ".repeat(10);
    const a = await router.generate("auto", { messages: [{ role: "user", content: long }] }, local);
    assert.equal(a.route, "cloud");
    assert.match(a.reason, /rule long: prompt \d+ tokens > 40/);
    assert.deepEqual(a.redacted, { EMAIL: 1, CARD: 1 });
    const answer = await text(a);
    assert.ok(answer.startsWith("cloud echo: Please write to anna@example.com about card 4111 1111 1111 1111."), answer);
    const sent = JSON.stringify(cloud.received.at(-1)!.body);
    assert.doesNotMatch(sent, /anna@example\.com|4111/);
    assert.match(sent, /\[EMAIL_1\]/);
    assert.equal(cloud.received.at(-1)!.headers.authorization, "Bearer cloud-key");
    assert.equal(cloud.received.at(-1)!.body.model, "big-model");

    const b = await router.generate("auto", { prompt: "Review this contract for me" }, local);
    assert.equal(b.route, "cloud");
    assert.match(b.reason, /keyword "contract"/);
    assert.equal(await text(b), "cloud echo: Review this contract for me");

    const c = await router.generate("auto", { prompt: "Once" }, local, { header: "peer" });
    assert.equal(c.route, "peer");
    assert.equal(c.servedBy, "peer-b");
    assert.equal(peer.received.at(-1)!.headers["x-edgelm-hop"], "1");

    const d = await router.generate("auto", { prompt: "Once", maxTokens: 1000 }, local);
    assert.equal(d.route, "cloud");
    assert.match(d.reason, /needs \d+ tokens, local context 256/);
    await text(b).catch(() => {});
  });

  it("falls back to local when the cloud is down, stalls, or drops before the first token", async () => {
    for (const mode of ["stall", "drop-before-first-token"] as const) {
      cloud.mode = mode;
      const router = makeRouter();
      const result = await router.generate("auto", { prompt: "Review this contract" }, local);
      assert.equal(result.route, "local", mode);
      assert.match(result.reason, mode === "stall" ? /fallback: upstream cloud sent nothing for 400 ms/ : /fallback: /);
      assert.ok((await text(result)).length > 0);
    }
    cloud.mode = "ok";
    const down = makeRouter({ cloud: { base_url: "http://127.0.0.1:9/v1", timeout_ms: 400 } });
    const result = await down.generate("auto", { prompt: "Review this contract" }, local);
    assert.equal(result.route, "local");
    assert.match(result.reason, /fallback: cannot reach upstream cloud at http:\/\/127.0.0.1:9\/v1/);
  });

  it("opens the circuit after repeated 5xx, skips the cloud while open, and half-opens to probe", async () => {
    const router = makeRouter();
    cloud.mode = "error500";
    cloud.received.length = 0;
    for (let i = 0; i < 2; i++) {
      const r = await router.generate("auto", { prompt: "contract" }, local);
      assert.equal(r.route, "local");
      assert.match(r.reason, /answered 500: boom/);
    }
    assert.equal(router.breakerStates().cloud, "open");
    const skipped = await router.generate("auto", { prompt: "contract" }, local);
    assert.match(skipped.reason, /cloud circuit open/);
    assert.equal(cloud.received.length, 2, "no request reached the cloud while open");
    clock.advance(350);
    assert.equal(router.breakerStates().cloud, "half_open");
    cloud.mode = "ok";
    const probe = await router.generate("auto", { prompt: "contract" }, local);
    assert.equal(probe.route, "cloud");
    await text(probe);
    assert.equal(router.breakerStates().cloud, "closed");
    cloud.mode = "error429";
    const limited = await router.generate("auto", { prompt: "contract" }, local);
    assert.match(limited.reason, /answered 429/);
    cloud.mode = "ok";
  });

  it("sends overflow to a peer first, then the cloud, when the local queue is full", async () => {
    queueFull = true;
    try {
      const router = makeRouter();
      const a = await router.generate("auto", { prompt: "Once upon a time" }, local);
      assert.equal(a.route, "peer");
      assert.equal(a.reason, "overflow: local queue full");
      assert.equal(await text(a), "peer echo: Once upon a time");
      peer.mode = "error500";
      const b = await router.generate("auto", { prompt: "Once upon a time" }, local);
      assert.equal(b.route, "cloud");
      peer.mode = "ok";
    } finally {
      queueFull = false;
    }
  });

  it("keeps private routes and private keys on the device", async () => {
    cloud.received.length = 0;
    const router = makeRouter({}, { private: true });
    const r = await router.generate("auto", { prompt: "Review this contract with anna@example.com" }, local);
    assert.equal(r.route, "local");
    assert.match(r.reason, /^private/);
    const keyed = await makeRouter().generate("auto", { prompt: "contract" }, local, { privateKey: true });
    assert.equal(keyed.route, "local");
    queueFull = true;
    try {
      await assert.rejects(router.generate("auto", { prompt: "Once" }, local), (e: unknown) => isEdgeError(e) && e.code === "queue_full");
    } finally {
      queueFull = false;
    }
    assert.equal(cloud.received.length, 0, "nothing reached the cloud");
  });

  it("escalates a low-confidence local answer to the cloud, and keeps a confident one", async () => {
    const unsure = makeRouter({}, { rules: [], min_mean_logprob: -0.0001 });
    const a = await unsure.generate("auto", { prompt: "Once upon a time" }, local);
    assert.equal(a.route, "cloud");
    assert.match(a.reason, /low confidence: mean logprob -\d+\.\d+ < -0.0001/);
    const sure = makeRouter({}, { rules: [], min_mean_logprob: -50 });
    const b = await sure.generate("auto", { prompt: "Once upon a time" }, local);
    assert.equal(b.route, "local");
    const chunks = [];
    for await (const c of b.stream) chunks.push(c);
    assert.ok(chunks.length > 0 && chunks.every((c) => c.logprobs === undefined), "logprobs added for judging are not shown");
  });

  it("diverts a share of local traffic by weights (set by policies)", async () => {
    const rolls = [0.1, 0.9];
    const router = new Router(
      routerSection.parse({ peers: [{ name: "peer-b", base_url: peer.url }], routes: [{ name: "auto", local: "stories" }] }),
      {},
      () => rolls.shift() ?? 0.9,
    );
    router.setWeights({ peer: 0.5 });
    assert.equal((await router.generate("auto", { prompt: "Once" }, local)).route, "peer");
    assert.equal((await router.generate("auto", { prompt: "Once" }, local)).route, "local");
  });

  it("rejects an unknown routed model", async () => {
    await assert.rejects(makeRouter().generate("nope", { prompt: "x" }, local), (e: unknown) => isEdgeError(e) && e.code === "model_not_found");
  });
});
