/**
 * The gRPC API end to end: a real grpc-js client (from the shipped .proto)
 * against `edgelm serve`'s gateway with real runner processes — every RPC,
 * streaming, the same text as REST, cancellation and deadlines freeing the
 * slot, queue full with RetryInfo, auth, the status mapping, health and
 * reflection.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import OpenAI from "openai";
import descriptor from "protobufjs/ext/descriptor/index.js";
import { REPO_ROOT } from "../helpers.js";
import { endOf, demoModel, startGateway, storiesModel, waitFor, type GatewayFixture } from "../server/gateway-fixture.js";
import { bearer, collect, HealthClient, InferenceClient, statusDetails, unary } from "./grpc-client.js";

const KEY = "grpc-key";
/** Under a JSON grammar at temperature 0 the demo model never closes its object: it fills its context (seconds). */
const ENDLESS = { model: "demo", prompt: "Once upon a time", options: { temperature: 0, response_format: { type: "TYPE_JSON_OBJECT" } } };

function rejectsWith(promise: Promise<unknown>, code: grpc.status, pattern?: RegExp): Promise<grpc.ServiceError> {
  return promise.then(
    () => assert.fail(`expected status ${grpc.status[code]}`),
    (error: grpc.ServiceError) => {
      assert.equal(error.code, code, `${grpc.status[error.code]}: ${error.details}`);
      if (pattern) assert.match(error.details, pattern);
      return error;
    },
  );
}

describe("gRPC API", () => {
  let fixture: GatewayFixture;
  let client: any;
  let address: string;
  const auth = bearer(KEY);

  before(async () => {
    fixture = await startGateway({
      models: [storiesModel(), demoModel({ parallel: 1 })],
      server: { queue: 1, api_keys: [KEY], grpc: { port: 0 } },
    });
    address = fixture.node.grpc!.address;
    client = new InferenceClient(address, grpc.credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await fixture?.close();
  });

  it("lists and describes the served models", async () => {
    const list = await unary(client, "ListModels", {}, auth);
    assert.deepEqual(
      list.models.map((m: any) => [m.name, m.state]),
      [
        ["stories", "ready"],
        ["demo", "ready"],
      ],
    );
    const stories = await unary(client, "GetModel", { name: "stories" }, auth);
    assert.equal(stories.architecture, "llama");
    assert.equal(stories.context_size, 512);
    assert.equal(stories.parallel, 4);
    assert.ok(stories.parameter_count > 200_000);
    assert.match(stories.sha256, /^[0-9a-f]{64}$/);
    const error = await rejectsWith(unary(client, "GetModel", { name: "storeis" }, auth), grpc.status.NOT_FOUND, /did you mean "stories"/);
    assert.equal(statusDetails(error).details["google.rpc.ErrorInfo"].reason, "model_not_found");
  });

  it("needs the bearer key in the authorization metadata", async () => {
    const none = await rejectsWith(unary(client, "ListModels", {}), grpc.status.UNAUTHENTICATED, /Authorization: Bearer/);
    assert.equal(none.metadata.get("edgelm-error-code")[0], "unauthorized");
    await rejectsWith(unary(client, "ListModels", {}, bearer("wrong")), grpc.status.UNAUTHENTICATED, /not valid/);
    await rejectsWith(collect(client.Generate({ model: "stories", prompt: "x" })), grpc.status.UNAUTHENTICATED);
  });

  it("streams Generate chunk by chunk, the same text as REST, ending with usage and timings", async () => {
    // Long enough to outlast several flush intervals even when a loaded machine delivers tokens in bursts (chunk-writer.ts).
    const tokens = 160;
    const request = { model: "stories", prompt: "Once upon a time", options: { max_tokens: tokens, temperature: 0 } };
    const started = endOf(fixture, "grpc.generate");
    const streamed = await collect(client.Generate(request, auth));
    assert.ok(streamed.chunks.length > 1, "several chunks");
    assert.ok(streamed.chunks.every((c) => typeof c.text === "string"));
    const done = streamed.done;
    assert.equal(done.finish_reason, "FINISH_REASON_LENGTH");
    assert.equal(done.usage.completion_tokens, tokens);
    assert.equal(streamed.chunks.reduce((n, c) => n + (c.token_ids?.length ?? 0), 0), tokens);
    assert.ok(done.usage.prompt_tokens > 1);
    assert.ok(done.timings.time_to_first_token_ms > 0);
    assert.ok(done.timings.decode_tokens_per_second > 0);
    assert.equal(done.model, "stories");
    assert.match(done.request_id, /^req-/);
    const event = await started;
    assert.equal(event.status, 200);
    assert.equal(event.completionTokens, tokens);

    const openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const rest = await openai.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: tokens, temperature: 0 });
    assert.equal(streamed.text, rest.choices[0]!.text);
  });

  it("honours stop strings, seeds, logprobs and JSON schemas", async () => {
    const full = await collect(client.Generate({ model: "stories", prompt: "Once upon a time", options: { max_tokens: 40, temperature: 0 } }, auth));
    const word = full.text.trim().split(/\s+/)[3]!;
    const stopped = await collect(client.Generate({ model: "stories", prompt: "Once upon a time", options: { max_tokens: 40, temperature: 0, stop: [word] } }, auth));
    assert.equal(stopped.done.finish_reason, "FINISH_REASON_STOP");
    assert.equal(stopped.done.stopped_by, word);
    assert.ok(!stopped.text.includes(word));
    const seeded = { model: "stories", prompt: "Once", options: { max_tokens: 16, temperature: 1, seed: 42 } };
    assert.equal((await collect(client.Generate(seeded, auth))).text, (await collect(client.Generate(seeded, auth))).text);
    const withLogprobs = await collect(client.Generate({ model: "stories", prompt: "Once", options: { max_tokens: 4, temperature: 0, logprobs: 2 } }, auth));
    const entries = withLogprobs.chunks.flatMap((c) => c.logprobs ?? []);
    assert.equal(entries.length, 4);
    assert.ok(entries.every((e: any) => e.logprob <= 0 && e.top.length === 2));
    const schema = { type: "object", properties: { name: { type: "string", maxLength: 12 } }, required: ["name"] };
    const json = await collect(
      client.Generate(
        { model: "stories", prompt: "A name:", options: { temperature: 0, max_tokens: 60, response_format: { type: "TYPE_JSON_SCHEMA", json_schema: JSON.stringify(schema) } } },
        auth,
      ),
    );
    assert.equal(typeof JSON.parse(json.text).name, "string");
  });

  it("streams Chat with the model's template (the fallback on stories) and an explicit greedy 0", async () => {
    const chat = await collect(
      client.Chat(
        { model: "demo", messages: [{ role: "ROLE_SYSTEM", content: "You tell stories." }, { role: "ROLE_USER", content: "Once upon a time" }], options: { max_tokens: 12, temperature: 0 } },
        auth,
      ),
    );
    assert.ok(chat.text.length > 0);
    assert.ok(["FINISH_REASON_LENGTH", "FINISH_REASON_STOP"].includes(chat.done.finish_reason));
    const again = await collect(
      client.Chat(
        { model: "demo", messages: [{ role: "ROLE_SYSTEM", content: "You tell stories." }, { role: "ROLE_USER", content: "Once upon a time" }], options: { max_tokens: 12, temperature: 0 } },
        auth,
      ),
    );
    assert.equal(again.text, chat.text, "temperature 0 (set explicitly) is greedy");
  });

  it("embeds and tokenizes", async () => {
    const embedded = await unary(client, "Embed", { model: "stories", inputs: ["Once upon a time", "the end"] }, auth);
    assert.equal(embedded.embeddings.length, 2);
    const vector: number[] = embedded.embeddings[0].values;
    assert.ok(vector.length > 16);
    assert.ok(Math.abs(Math.hypot(...vector) - 1) < 1e-3, "L2-normalised");
    assert.ok(embedded.prompt_tokens > 2);
    const withBos = await unary(client, "Tokenize", { model: "stories", text: "Once upon a time" }, auth);
    const without = await unary(client, "Tokenize", { model: "stories", text: "Once upon a time", add_bos: false }, auth);
    assert.equal(withBos.token_ids.length, without.token_ids.length + 1);
    assert.equal(withBos.token_ids[0], 1);
  });

  it("maps bad input to INVALID_ARGUMENT naming the field, with a BadRequest", async () => {
    const cases: Array<[unknown, string]> = [
      [{ model: "stories", prompt: "x", options: { temperature: 5 } }, "options.temperature"],
      [{ model: "stories", prompt: "x", options: { max_tokens: -2 } }, "options.max_tokens"],
      [{ model: "stories", prompt: "x", options: { response_format: { type: "TYPE_JSON_SCHEMA", json_schema: "{not json" } } }, "options.response_format.json_schema"],
      [{ model: "stories", prompt: "x", options: { logit_bias: { 99999: 5 } } }, "options.logit_bias"],
      [{ prompt: "x" }, "model"],
    ];
    for (const [request, field] of cases) {
      const error = await rejectsWith(collect(client.Generate(request, auth)), grpc.status.INVALID_ARGUMENT);
      assert.ok(error.details.startsWith(`${field}:`), error.details);
      const status = statusDetails(error);
      assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(status.details["google.rpc.BadRequest"].field_violations[0].field, field);
      assert.equal(status.details["google.rpc.ErrorInfo"].domain, "edgelm");
    }
    await rejectsWith(collect(client.Chat({ model: "demo", messages: [{ content: "no role" }] }, auth)), grpc.status.INVALID_ARGUMENT, /^messages\[0\]\.role:/);
    await rejectsWith(unary(client, "Embed", { model: "stories", inputs: ["a", ""] }, auth), grpc.status.INVALID_ARGUMENT, /^inputs\[1\]:/);
    await rejectsWith(collect(client.Generate({ model: "nope", prompt: "x" }, auth)), grpc.status.NOT_FOUND, /served: stories, demo/);
  });

  it("answers OUT_OF_RANGE for a prompt longer than the context", async () => {
    const error = await rejectsWith(collect(client.Generate({ model: "stories", prompt: "Once upon a time ".repeat(300) }, auth)), grpc.status.OUT_OF_RANGE);
    assert.equal(statusDetails(error).details["google.rpc.ErrorInfo"].reason, "context_overflow");
    await rejectsWith(unary(client, "Embed", { model: "stories", inputs: ["Once upon a time ".repeat(300)] }, auth), grpc.status.OUT_OF_RANGE);
  });

  const pool = () => fixture.gateway.pool("demo");

  it("frees the slot when the client cancels mid-stream; the next call succeeds", async () => {
    const ended = endOf(fixture, "grpc.generate");
    const call = client.Generate(ENDLESS, auth);
    await new Promise<void>((resolve) => call.once("data", () => resolve()));
    assert.equal(pool().describe().queue.inFlight, 1);
    call.on("error", () => {});
    call.cancel();
    const event = await ended;
    assert.equal(event.status, 499);
    assert.equal(event.errorCode, "aborted");
    await waitFor(() => pool().describe().queue.inFlight === 0, 5000, "the slot to be freed");
    const next = await collect(client.Generate({ model: "demo", prompt: "Once upon a time", options: { max_tokens: 5, temperature: 0 } }, auth));
    assert.equal(next.done.usage.completion_tokens, 5);
  });

  it("ends with DEADLINE_EXCEEDED at the call's deadline and frees the slot at once", async () => {
    const ended = endOf(fixture, "grpc.generate");
    const started = Date.now();
    await rejectsWith(collect(client.Generate(ENDLESS, auth, { deadline: Date.now() + 400 })), grpc.status.DEADLINE_EXCEEDED);
    const event = await ended;
    assert.equal(event.errorCode, "timeout");
    await waitFor(() => pool().describe().queue.inFlight === 0, 2000, "the slot to be freed");
    assert.ok(Date.now() - started < 3000);
    const next = await collect(client.Generate({ model: "demo", prompt: "Once upon a time", options: { max_tokens: 3, temperature: 0 } }, auth));
    assert.equal(next.done.usage.completion_tokens, 3);
  });

  it("answers RESOURCE_EXHAUSTED with RetryInfo when the slots and the queue are full", async () => {
    const pid = pool().runnerProcesses()[0]!.pid!;
    // A frozen runner holds its one slot: the first call runs (forever), the second waits, the third finds the line full.
    process.kill(pid, "SIGSTOP");
    const first = client.Generate({ model: "demo", prompt: "Once", options: { max_tokens: 5 } }, auth);
    const second = client.Generate({ model: "demo", prompt: "Once", options: { max_tokens: 5 } }, auth);
    try {
      await waitFor(() => pool().describe().queue.waiting === 1, 5000, "one waiting call");
      const error = await rejectsWith(collect(client.Generate({ model: "demo", prompt: "x" }, auth)), grpc.status.RESOURCE_EXHAUSTED, /slots are generating/);
      const status = statusDetails(error);
      assert.equal(status.details["google.rpc.ErrorInfo"].reason, "queue_full");
      assert.ok(status.details["google.rpc.RetryInfo"].retry_delay.seconds >= 1);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await Promise.all([collect(first), collect(second)]);
  });

  it("reports per-model health; Watch follows it", async () => {
    const health = new HealthClient(address, grpc.credentials.createInsecure());
    try {
      for (const service of ["", "edgelm.v1.Inference", "stories", "demo"]) {
        assert.equal((await unary(health, "Check", { service })).status, "SERVING", service);
      }
      await rejectsWith(unary(health, "Check", { service: "other" }), grpc.status.NOT_FOUND);
      const watch = health.Watch({ service: "demo" });
      const first = await new Promise<any>((resolve) => watch.once("data", resolve));
      assert.equal(first.status, "SERVING");
      watch.on("error", () => {});
      watch.cancel();
    } finally {
      health.close();
    }
  });

  it("serves reflection: grpcurl-style tools list the services and fetch the file", async () => {
    const reflectionProto = join(REPO_ROOT, "node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");
    const definition = protoLoader.loadSync(reflectionProto, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    const Reflection = (grpc.loadPackageDefinition(definition) as any).grpc.reflection.v1.ServerReflection;
    const reflection = new Reflection(address, grpc.credentials.createInsecure());
    try {
      const ask = (request: unknown): Promise<any> =>
        new Promise((resolve, reject) => {
          const call = reflection.ServerReflectionInfo();
          call.once("data", (message: any) => {
            resolve(message);
            call.end();
          });
          call.on("error", reject);
          call.write(request);
        });
      const services = (await ask({ list_services: "" })).list_services_response.service.map((s: any) => s.name);
      for (const name of ["edgelm.v1.Inference", "grpc.health.v1.Health"]) assert.ok(services.includes(name), `${name} in ${services}`);
      const files = (await ask({ file_containing_symbol: "edgelm.v1.Inference" })).file_descriptor_response.file_descriptor_proto;
      const decoded = files.map((f: Buffer) => descriptor.FileDescriptorProto.decode(f) as any);
      const inference = decoded.find((f: any) => f.package === "edgelm.v1").service.find((s: any) => s.name === "Inference");
      assert.deepEqual(
        inference.method.map((m: any) => [m.name, m.serverStreaming === true]),
        [
          ["Generate", true],
          ["Chat", true],
          ["Embed", false],
          ["Tokenize", false],
          ["ListModels", false],
          ["GetModel", false],
        ],
      );
    } finally {
      reflection.close();
    }
  });
});
