import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MqttEventSink } from "../../src/router/mqtt-event-sink.js";
import { Outbox } from "../../src/router/outbox.js";
import { createMosquitto } from "./mosquitto-broker.js";
import { startDedupConsumer, type DedupConsumer } from "./mqtt-consumer.js";
import { startChild, waitUntil } from "./outbox-process.js";
import { makeCertificates } from "./test-certificates.js";

/** Every source's events arrived in the order they were appended, and all `total` of them. */
function assertInOrderPerSource(consumer: DedupConsumer, total: number): void {
  assert.equal(consumer.ids.length, total, "each event exactly once at the deduplicating consumer");
  assert.equal(new Set(consumer.ids).size, total);
  for (const [source, ns] of consumer.sources) {
    const sorted = [...ns].sort((a, b) => a - b);
    assert.deepEqual(ns, sorted, `events of ${source} in order`);
  }
  assert.deepEqual(consumer.mismatched, [], "the MQTT 5 user property event-id matches the payload's id");
}

describe("MQTT sink against a real mosquitto", () => {
  it("delivers 10,000 events exactly once, in order per source, while the broker restarts twice and the outbox process is SIGKILLed once", async () => {
    const broker = await createMosquitto();
    const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    await broker.start();
    const consumer = await startDedupConsumer(`mqtt://127.0.0.1:${broker.port}`);
    const env = {
      SINK_CONFIG: JSON.stringify({ type: "mqtt", url: `mqtt://127.0.0.1:${broker.port}`, timeout_ms: 2000 }),
      BATCH_EVENTS: "200",
      SEGMENT_BYTES: String(256 * 1024),
    };
    let outbox = startChild(dir, "fill", 10_000, "", { size: 0, env });
    try {
      await waitUntil(() => consumer.ids.length >= 1000, "1,000 events before the first broker restart");
      await broker.stop();
      await new Promise((r) => setTimeout(r, 500));
      await broker.start();
      await outbox.waitFor(/^filled 10000$/);
      await waitUntil(() => consumer.ids.length >= 4000, "4,000 events before the SIGKILL");
      outbox.child.kill("SIGKILL");
      await new Promise((r) => outbox.child.once("exit", r));
      outbox = startChild(dir, "idle", 0, "", { env });
      await waitUntil(() => consumer.ids.length >= 6000, "6,000 events before the second broker restart");
      await broker.stop();
      await new Promise((r) => setTimeout(r, 500));
      await broker.start();
      await waitUntil(() => consumer.ids.length >= 10_000, "all 10,000 events", 120_000);
      await new Promise((r) => setTimeout(r, 300));
      assertInOrderPerSource(consumer, 10_000);
      assert.deepEqual([...consumer.topics.keys()].sort(), ["edgelm/test-gateway/gate-0/event", "edgelm/test-gateway/gate-1/event", "edgelm/test-gateway/gate-2/event", "edgelm/test-gateway/gate-3/event"]);
    } finally {
      outbox.child.kill("SIGKILL");
      await consumer.close();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps events in the journal while the broker is down for the whole run and delivers them once it is up (MQTT 3.1.1)", async () => {
    const broker = await createMosquitto();
    const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    // The consumer's persistent session exists before the run, so the broker queues for it.
    await broker.start();
    let consumer = await startDedupConsumer(`mqtt://127.0.0.1:${broker.port}`);
    await consumer.close();
    await broker.stop();
    const env = { SINK_CONFIG: JSON.stringify({ type: "mqtt", url: `mqtt://127.0.0.1:${broker.port}`, protocol_version: 4, timeout_ms: 1000 }) };
    const outbox = startChild(dir, "fill", 2000, "", { size: 0, env });
    try {
      await outbox.waitFor(/^filled 2000$/);
      await new Promise((r) => setTimeout(r, 1500)); // failed attempts while the broker is down
      assert.ok(!outbox.lines.some((l) => l.startsWith("delivered ")), "nothing is delivered while the broker is down");
      await broker.start();
      consumer = await startDedupConsumer(`mqtt://127.0.0.1:${broker.port}`);
      await waitUntil(() => consumer.ids.length >= 2000, "the 2,000 journaled events", 60_000);
      assertInOrderPerSource(consumer, 2000);
    } finally {
      outbox.child.kill("SIGKILL");
      await consumer.close();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("MQTT sink over TLS with a client certificate and a password", () => {
  it("delivers with the right certificate and password, and delivers nothing (retrying) with a wrong password", async () => {
    const certs = mkdtempSync(join(tmpdir(), "edgelm-mqtt-tls-"));
    makeCertificates(certs);
    execFileSync("mosquitto_passwd", ["-b", "-c", join(certs, "passwd"), "camera", "s3cret"]);
    const broker = await createMosquitto(
      [`cafile ${certs}/ca.pem`, `certfile ${certs}/server.pem`, `keyfile ${certs}/server.key`, "require_certificate true", `password_file ${certs}/passwd`].join("\n"),
    );
    const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-"));
    await broker.start();
    const url = `mqtts://127.0.0.1:${broker.port}`;
    const tls = { caFile: join(certs, "ca.pem"), certFile: join(certs, "client.pem"), keyFile: join(certs, "client.key") };
    const consumer = await startDedupConsumer(url, {
      ca: readFileSync(tls.caFile),
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      username: "camera",
      password: "s3cret",
    });
    const wrong = new Outbox({ dir: join(dir, "wrong"), sinks: [new MqttEventSink({ url, ...tls, username: "camera", password: "nope", gatewayId: "gw", timeoutMs: 1000, reconnectMs: 200 })], retryBaseMs: 50, retryMaxMs: 100 });
    const right = new Outbox({ dir: join(dir, "right"), sinks: [new MqttEventSink({ url, ...tls, username: "camera", password: "s3cret", gatewayId: "gw", timeoutMs: 2000 })] });
    try {
      await wrong.start();
      await right.start();
      for (let n = 0; n < 20; n++) {
        await wrong.append({ source: "gate-9", n }, `wrong-${n}`);
        await right.append({ source: "gate-1", type: "person", n }, `right-${n}`);
      }
      await waitUntil(() => consumer.ids.length >= 20, "20 events over TLS");
      await waitUntil(() => wrong.stats().sinks[0]!.retried > 0, "retries with the wrong password");
      assert.deepEqual(consumer.ids, [...Array(20).keys()].map((n) => `right-${n}`));
      assert.deepEqual([...consumer.topics.keys()], ["edgelm/gw/gate-1/person"]);
      assert.equal(wrong.stats().sinks[0]!.delivered, 0);
      assert.equal(wrong.backlog, 20, "refused by the broker, kept in the journal");
    } finally {
      await wrong.stop();
      await right.stop();
      await consumer.close();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(certs, { recursive: true, force: true });
    }
  });
});
