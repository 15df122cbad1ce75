/**
 * The gRPC API on the llama-server backend (the other engine): the same
 * stream as REST, embeddings and token counts, and a client that cancels
 * mid-stream freeing the slot in llama-server.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import OpenAI from "openai";
import { writeSyntheticModel } from "../../src/gguf/synthetic-model.js";
import { parseSyntheticShape } from "../../src/gguf/synthetic-shape.js";
import { testLlamaServer } from "../helpers.js";
import { startGateway, storiesModel, waitFor, type GatewayFixture } from "../server/gateway-fixture.js";
import { collect, InferenceClient, unary } from "./grpc-client.js";

describe("gRPC API on llama-server runners", () => {
  let fixture: GatewayFixture;
  let client: any;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-grpc-ls-"));
    // Random weights and no end of text: a stream lasts until it is stopped.
    const slow = join(dir, "slow.gguf");
    await writeSyntheticModel(slow, { shape: parseSyntheticShape("embd=512,layers=8,heads=8,kv=8,ffn=1536,vocab=512,ctx=2048"), type: "q8_0" });
    fixture = await startGateway({
      models: [storiesModel(), storiesModel({ name: "slow", ref: slow, parallel: 1, contextSize: 2048 })],
      config: { engine: { backend: "llama-server", llama_server: await testLlamaServer() } },
      server: { grpc: { port: 0 } },
    });
    client = new InferenceClient(fixture.node.grpc!.address, grpc.credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await fixture?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("streams Generate and Chat with the text REST gives", async () => {
    assert.equal((await unary(client, "GetModel", { name: "stories" })).backend, "llama-server");
    const streamed = await collect(client.Generate({ model: "stories", prompt: "Once upon a time", options: { max_tokens: 24, temperature: 0 } }));
    assert.equal(streamed.done.usage.completion_tokens, 24);
    assert.ok(streamed.done.timings.decode_tokens_per_second > 0);
    const openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const rest = await openai.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 24, temperature: 0 });
    assert.equal(streamed.text, rest.choices[0]!.text);
    const chat = await collect(client.Chat({ model: "stories", messages: [{ role: "ROLE_USER", content: "Tell me a story." }], options: { max_tokens: 8, temperature: 0 } }));
    assert.ok(chat.done.usage.completion_tokens > 0);
  });

  it("embeds, tokenizes, and maps a context overflow to OUT_OF_RANGE", async () => {
    const embedded = await unary(client, "Embed", { model: "stories", inputs: ["Once upon a time"] });
    assert.ok(Math.abs(Math.hypot(...(embedded.embeddings[0].values as number[])) - 1) < 1e-3);
    const tokens = await unary(client, "Tokenize", { model: "stories", text: "Once upon a time" });
    assert.equal(tokens.token_ids[0], 1);
    await assert.rejects(collect(client.Generate({ model: "stories", prompt: "Once upon a time ".repeat(300) })), (e: grpc.ServiceError) => e.code === grpc.status.OUT_OF_RANGE);
  });

  it("frees llama-server's slot when the client cancels mid-stream", async () => {
    const pool = fixture.gateway.pool("slow");
    const call = client.Generate({ model: "slow", prompt: "Once upon a time", options: { temperature: 0 } });
    call.on("error", () => {});
    await new Promise<void>((resolve) => call.once("data", () => resolve()));
    assert.equal(pool.describe().queue.inFlight, 1);
    call.cancel();
    await waitFor(() => pool.describe().queue.inFlight === 0, 5000, "the slot to be freed");
    const next = await collect(client.Generate({ model: "slow", prompt: "Once", options: { max_tokens: 3 } }));
    assert.equal(next.done.usage.completion_tokens, 3);
  });
});
