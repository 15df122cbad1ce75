/**
 * The gRPC API over TLS and mutual TLS, with certificates openssl makes for
 * the test: a client trusting the CA talks; a plaintext client, a client
 * without a certificate or with one from another CA does not get through; an
 * unreadable key file stops the node naming the field.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { isEdgeError } from "../../src/errors.js";
import { makeCertificates } from "../router/test-certificates.js";
import { demoModel, startGateway, type GatewayFixture } from "../server/gateway-fixture.js";
import { collect, InferenceClient, unary } from "./grpc-client.js";

describe("gRPC over TLS and mutual TLS", () => {
  let dir: string;
  let rogue: string;
  const read = (folder: string, file: string): Buffer => readFileSync(join(folder, file));
  const fixtures: GatewayFixture[] = [];
  const clients: grpc.Client[] = [];
  const connect = (address: string, credentials: grpc.ChannelCredentials): any => {
    const client = new InferenceClient(address, credentials);
    clients.push(client);
    return client;
  };
  /** Fails fast: a refused handshake shows as UNAVAILABLE once the deadline passes or the channel gives up. */
  const refused = (client: any): Promise<void> =>
    unary(client, "ListModels", {}, new grpc.Metadata(), { deadline: Date.now() + 3000 }).then(
      () => assert.fail("the call should not get through"),
      (error: grpc.ServiceError) => assert.ok([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(error.code), `${grpc.status[error.code]}: ${error.details}`),
    );

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-grpc-tls-"));
    rogue = mkdtempSync(join(tmpdir(), "edgelm-grpc-rogue-"));
    makeCertificates(dir);
    makeCertificates(rogue);
  });
  after(async () => {
    for (const client of clients) client.close();
    for (const fixture of fixtures) await fixture.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(rogue, { recursive: true, force: true });
  });

  it("serves TLS from the configured certificate; plaintext clients are refused", async () => {
    const fixture = await startGateway({
      models: [demoModel({ parallel: 1 })],
      server: { grpc: { port: 0, tls: { cert: join(dir, "server.pem"), key: join(dir, "server.key") } } },
    });
    fixtures.push(fixture);
    assert.equal(fixture.node.grpc!.tls, true);
    const address = fixture.node.grpc!.address;
    const client = connect(address, grpc.credentials.createSsl(read(dir, "ca.pem")));
    assert.deepEqual((await unary(client, "ListModels", {})).models.map((m: any) => m.name), ["demo"]);
    const streamed = await collect(client.Generate({ model: "demo", prompt: "Once upon a time", options: { max_tokens: 5 } }));
    // The demo model samples: it may end its text before the limit.
    assert.ok(streamed.done.usage.completion_tokens >= 1 && streamed.done.usage.completion_tokens <= 5, String(streamed.done.usage.completion_tokens));
    await refused(connect(address, grpc.credentials.createInsecure()));
    // A client that does not trust the CA refuses the server.
    await refused(connect(address, grpc.credentials.createSsl(read(rogue, "ca.pem"))));
  });

  it("with a client CA, serves only clients whose certificate it signed", async () => {
    const fixture = await startGateway({
      models: [demoModel({ parallel: 1 })],
      server: { grpc: { port: 0, tls: { cert: join(dir, "server.pem"), key: join(dir, "server.key"), client_ca: join(dir, "ca.pem") } } },
    });
    fixtures.push(fixture);
    const address = fixture.node.grpc!.address;
    const ca = read(dir, "ca.pem");
    const client = connect(address, grpc.credentials.createSsl(ca, read(dir, "client.key"), read(dir, "client.pem")));
    const streamed = await collect(client.Generate({ model: "demo", prompt: "Once upon a time", options: { max_tokens: 4 } }));
    assert.ok(streamed.done.usage.completion_tokens >= 1 && streamed.done.usage.completion_tokens <= 4, String(streamed.done.usage.completion_tokens));
    await refused(connect(address, grpc.credentials.createSsl(ca)));
    await refused(connect(address, grpc.credentials.createSsl(ca, read(rogue, "client.key"), read(rogue, "client.pem"))));
  });

  it("stops with invalid_config naming the field when a TLS file cannot be read", async () => {
    await assert.rejects(
      startGateway({ models: [demoModel()], server: { grpc: { port: 0, tls: { cert: join(dir, "server.pem"), key: join(dir, "missing.key") } } }, waitReady: false }),
      (error: unknown) => {
        assert.ok(isEdgeError(error));
        assert.equal(error.code, "invalid_config");
        assert.equal(error.param, "server.grpc.tls.key");
        assert.match(error.message, /missing\.key \(ENOENT\)/);
        return true;
      },
    );
  });
});
