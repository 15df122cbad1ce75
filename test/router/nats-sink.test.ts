import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { AckPolicy, connect, nanos, nkeyAuthenticator, nkeys, type ConnectionOptions } from "nats";
import { NatsEventSink } from "../../src/router/nats-event-sink.js";
import { Outbox } from "../../src/router/outbox.js";
import { createNatsServer } from "./nats-jetstream-server.js";
import { startChild, waitUntil } from "./outbox-process.js";
import { makeCertificates } from "./test-certificates.js";

/** Creates the stream EVENTS on edgelm.> with a 10-minute duplicate window. */
async function addStream(options: ConnectionOptions): Promise<void> {
  const nc = await connect(options);
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: "EVENTS", subjects: ["edgelm.>"], duplicate_window: nanos(600_000) });
  await nc.close();
}

/** Messages stored in EVENTS now (0 while the server is away). */
async function stored(options: ConnectionOptions): Promise<number> {
  try {
    const nc = await connect({ ...options, reconnect: false, timeout: 1000 });
    try {
      return (await (await nc.jetstreamManager()).streams.info("EVENTS")).state.messages;
    } finally {
      await nc.close();
    }
  } catch {
    return 0;
  }
}

/** Reads the whole stream: ids in stream order, and each source's event numbers. */
async function readStream(options: ConnectionOptions, count: number): Promise<{ ids: string[]; subjects: Set<string>; sources: Map<string, number[]>; msgIdsMatch: boolean }> {
  const nc = await connect(options);
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add("EVENTS", { durable_name: "reader", ack_policy: AckPolicy.None });
  const consumer = await js.consumers.get("EVENTS", "reader");
  const ids: string[] = [];
  const subjects = new Set<string>();
  const sources = new Map<string, number[]>();
  let msgIdsMatch = true;
  while (ids.length < count) {
    const batch = await consumer.fetch({ max_messages: 1000, expires: 2000 });
    let got = 0;
    for await (const m of batch) {
      got++;
      const envelope = m.json<{ id: string; event: { source: string; n: number } }>();
      if (m.headers?.get("Nats-Msg-Id") !== envelope.id) msgIdsMatch = false;
      ids.push(envelope.id);
      subjects.add(m.subject);
      sources.set(envelope.event.source, [...(sources.get(envelope.event.source) ?? []), envelope.event.n]);
    }
    if (got === 0) break;
  }
  await nc.close();
  return { ids, subjects, sources, msgIdsMatch };
}

describe("NATS JetStream sink against a real nats-server -js", () => {
  it("stores 10,000 events exactly once (Nats-Msg-Id dedup), in order per source, while the server restarts twice and the outbox process is SIGKILLed once", async () => {
    const server = await createNatsServer();
    const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    await server.start();
    const options = { servers: [server.url] };
    await addStream(options);
    const env = {
      SINK_CONFIG: JSON.stringify({ type: "nats", servers: [server.url], stream: "EVENTS", timeout_ms: 2000 }),
      BATCH_EVENTS: "200",
      SEGMENT_BYTES: String(256 * 1024),
    };
    let outbox = startChild(dir, "fill", 10_000, "", { size: 0, env });
    try {
      let last = 0;
      const storedAtLeast = async (n: number, what: string, timeoutMs = 60_000) => {
        const deadline = Date.now() + timeoutMs;
        while ((last = await stored(options)) < n) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${last} stored)`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await storedAtLeast(1000, "1,000 events before the first restart");
      await server.stop();
      await new Promise((r) => setTimeout(r, 500));
      await server.start();
      await outbox.waitFor(/^filled 10000$/);
      await storedAtLeast(4000, "4,000 events before the SIGKILL");
      outbox.child.kill("SIGKILL");
      await new Promise((r) => outbox.child.once("exit", r));
      outbox = startChild(dir, "idle", 0, "", { env });
      await storedAtLeast(6000, "6,000 events before the second restart");
      await server.stop();
      await new Promise((r) => setTimeout(r, 500));
      await server.start();
      await storedAtLeast(10_000, "all 10,000 events", 120_000);
      await waitUntil(() => outbox.lines.some((l) => l === "delivered 10000"), "the outbox to see the last PubAck", 60_000);
      assert.equal(await stored(options), 10_000, "JetStream dropped every re-send by its Nats-Msg-Id");
      const { ids, subjects, sources, msgIdsMatch } = await readStream(options, 10_000);
      assert.equal(new Set(ids).size, 10_000);
      assert.ok(msgIdsMatch, "Nats-Msg-Id is the event id");
      for (const [source, ns] of sources) assert.deepEqual(ns, [...ns].sort((a, b) => a - b), `events of ${source} in order`);
      assert.deepEqual([...subjects].sort(), ["edgelm.test-gateway.gate-0.event", "edgelm.test-gateway.gate-1.event", "edgelm.test-gateway.gate-2.event", "edgelm.test-gateway.gate-3.event"]);
    } finally {
      outbox.child.kill("SIGKILL");
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps events in the journal while the server is down for the whole run, and stores them once it is up", async () => {
    const server = await createNatsServer();
    const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    await server.start();
    const options = { servers: [server.url] };
    await addStream(options);
    await server.stop();
    const env = { SINK_CONFIG: JSON.stringify({ type: "nats", servers: [server.url], stream: "EVENTS", timeout_ms: 1000 }) };
    const outbox = startChild(dir, "fill", 2000, "", { size: 0, env });
    try {
      await outbox.waitFor(/^filled 2000$/);
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok(!outbox.lines.some((l) => l.startsWith("delivered ")), "nothing is delivered while the server is down");
      await server.start();
      await waitUntil(() => outbox.lines.some((l) => l === "delivered 2000"), "the 2,000 journaled events", 60_000);
      assert.equal(await stored(options), 2000);
    } finally {
      outbox.child.kill("SIGKILL");
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("NATS JetStream sink over TLS with an NKey", () => {
  it("stores events with the configured NKey seed and client certificate, and stores nothing (retrying) with an unknown NKey", async () => {
    const certs = mkdtempSync(join(tmpdir(), "edgelm-nats-tls-"));
    makeCertificates(certs);
    const user = nkeys.createUser();
    const stranger = nkeys.createUser();
    writeFileSync(join(certs, "user.nk"), new TextDecoder().decode(user.getSeed()));
    writeFileSync(join(certs, "stranger.nk"), new TextDecoder().decode(stranger.getSeed()));
    const server = await createNatsServer(
      [
        `tls { cert_file: "${certs}/server.pem", key_file: "${certs}/server.key", ca_file: "${certs}/ca.pem", verify: true }`,
        `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }`,
      ].join("\n"),
    );
    const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    await server.start();
    const url = `tls://127.0.0.1:${server.port}`;
    const tls = { caFile: join(certs, "ca.pem"), certFile: join(certs, "client.pem"), keyFile: join(certs, "client.key") };
    const options: ConnectionOptions = { servers: [url], tls, authenticator: nkeyAuthenticator(user.getSeed()) };
    const sink = (seed: string) => new NatsEventSink({ servers: [url], stream: "EVENTS", nkeySeedFile: join(certs, seed), ...tls, gatewayId: "gw", timeoutMs: 1000 });
    const right = new Outbox({ dir: join(dir, "right"), sinks: [sink("user.nk")] });
    const wrong = new Outbox({ dir: join(dir, "wrong"), sinks: [sink("stranger.nk")], retryBaseMs: 50, retryMaxMs: 100 });
    try {
      await addStream(options);
      await right.start();
      await wrong.start();
      for (let n = 0; n < 10; n++) {
        await right.append({ source: "gate-1", type: "person", n }, `right-${n}`);
        await wrong.append({ source: "gate-9", n }, `wrong-${n}`);
      }
      await waitUntil(() => right.backlog === 0, "10 events over TLS");
      await waitUntil(() => wrong.stats().sinks[0]!.retried > 0, "retries with an unknown NKey");
      assert.equal(await stored(options), 10);
      const { ids, subjects } = await readStream(options, 10);
      assert.deepEqual(ids, [...Array(10).keys()].map((n) => `right-${n}`));
      assert.deepEqual([...subjects], ["edgelm.gw.gate-1.person"]);
      assert.equal(wrong.backlog, 10, "refused by the server, kept in the journal");
    } finally {
      await right.stop();
      await wrong.stop();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(certs, { recursive: true, force: true });
    }
  });
});
