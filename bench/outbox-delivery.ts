/**
 * Outbox delivery speed: a journal of N events (fsync'd appends, as POST
 * /v1/events makes them) forwarded to a receiver on 127.0.0.1 that answers at
 * once; events/s from start to the last acknowledgement, for each sink kind and
 * batch size, interleaved over rounds (medians; these machines are noisy), with
 * the journal's disk bytes per event. With `mosquitto` on PATH it also runs
 * the MQTT sink (QoS 1, acknowledged = PUBACK) against a broker it starts on
 * 127.0.0.1, and prints its ratio to the HTTP sink; with `nats-server` on PATH
 * likewise the NATS JetStream sink (acknowledged = the stream's PubAck, into a
 * file-backed stream with a duplicate window, as deployed).
 *
 *   npm run build && node dist/bench/outbox-delivery.js [--events 20000] [--rounds 3] [--json]
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "../src/engine/thread-tuning.js";
import type { EventSink } from "../src/router/event-sink.js";
import { freePort } from "../src/free-port.js";
import { HttpEventSink } from "../src/router/http-event-sink.js";
import { MqttEventSink } from "../src/router/mqtt-event-sink.js";
import { NatsEventSink } from "../src/router/nats-event-sink.js";
import { connect, nanos } from "nats";
import { Outbox } from "../src/router/outbox.js";
import { integerOption } from "./bench-args.js";

const events = integerOption("--events", 20_000);
const rounds = integerOption("--rounds", 3);
const json = process.argv.includes("--json");

/** A camera event like the docs' example (about 150 bytes of JSON). */
function cameraEvent(i: number): unknown {
  return { camera: `gate-${i % 8}`, label: i % 3 === 0 ? "vehicle" : "person", score: 0.91, box: [12, 40, 188, 220], at: 1764662400000 + i };
}

/** An HTTP receiver that answers 200 at once and counts distinct idempotency keys (each run's keys are its own). */
async function startReceiver(): Promise<{ url: string; received: () => number; close: () => Promise<void> }> {
  const seen = new Set<string>();
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.add(String(req.headers["idempotency-key"]));
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/v1/events`, received: () => seen.size, close: () => new Promise((r) => server.close(() => r())) };
}

const failing: EventSink = { name: "http", deliver: async () => ({ delivered: 0, error: new Error("down while filling") }) };

/** Fills a fresh journal with `events` events (group-committed appends, 64 at a time); returns its dir and bytes per event. */
async function fill(run: number): Promise<{ dir: string; bytesPerEvent: number }> {
  const dir = mkdtempSync(join(tmpdir(), "edgelm-outbox-bench-"));
  const outbox = new Outbox({ dir, sinks: [failing], retryBaseMs: 60_000 });
  await outbox.start();
  for (let i = 0; i < events; i += 64) {
    const group = [];
    for (let j = i; j < Math.min(events, i + 64); j++) group.push(outbox.append(cameraEvent(j), `run-${run}-cam-${j}`));
    await Promise.all(group);
  }
  const bytesPerEvent = outbox.journalBytes / events;
  await outbox.stop();
  return { dir, bytesPerEvent };
}

/** A mosquitto on 127.0.0.1 (anonymous, no persistence), or undefined when it is not installed. */
async function startMosquitto(): Promise<{ url: string; stop: () => void } | undefined> {
  if (spawnSync("mosquitto", ["-h"]).error) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "edgelm-bench-mosquitto-"));
  const port = await freePort();
  writeFileSync(join(dir, "mosquitto.conf"), `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\nmax_queued_messages 0\nlog_dest none\n`);
  const child: ChildProcess = spawn("mosquitto", ["-c", join(dir, "mosquitto.conf")], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 500));
  return { url: `mqtt://127.0.0.1:${port}`, stop: () => (child.kill(), rmSync(dir, { recursive: true, force: true })) };
}

/** A nats-server with JetStream on 127.0.0.1 and a file-backed stream EVENTS over edgelm.>, or undefined when it is not installed. */
async function startNats(): Promise<{ url: string; stop: () => void } | undefined> {
  if (spawnSync("nats-server", ["--version"]).error) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "edgelm-bench-nats-"));
  const port = await freePort();
  writeFileSync(join(dir, "nats.conf"), `host: 127.0.0.1\nport: ${port}\njetstream { store_dir: "${dir}/store" }\n`);
  const child: ChildProcess = spawn("nats-server", ["-js", "-c", join(dir, "nats.conf")], { stdio: "ignore" });
  const url = `nats://127.0.0.1:${port}`;
  const stop = (): void => {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const nc = await connect({ servers: url, timeout: 1000 });
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: "EVENTS", subjects: ["edgelm.>"], duplicate_window: nanos(120_000) });
      await nc.close();
      return { url, stop };
    } catch (error) {
      if (attempt >= 50) {
        stop();
        throw error;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Starts an outbox on `dir` with `sink` and times delivery of the whole backlog (every event acknowledged), in events/s. */
async function deliver(dir: string, sink: EventSink, batchEvents: number, received?: () => number): Promise<number> {
  const before = received?.() ?? 0;
  const outbox = new Outbox({ dir, sinks: [sink], batchEvents, retryBaseMs: 50 });
  const started = performance.now();
  await outbox.start();
  while ((received && received() - before < events) || outbox.backlog > 0) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - started) / 1000;
  await outbox.stop();
  return events / seconds;
}

const receiver = await startReceiver();
const mosquitto = await startMosquitto();
const nats = await startNats();
const cases: Array<{ name: string; batch: number; sink: () => EventSink; received?: () => number }> = [
  { name: "http, batch 1", batch: 1, sink: () => new HttpEventSink({ url: receiver.url }), received: receiver.received },
  { name: "http, batch 500", batch: 500, sink: () => new HttpEventSink({ url: receiver.url }), received: receiver.received },
];
if (mosquitto) cases.push({ name: "mqtt qos1, batch 500", batch: 500, sink: () => new MqttEventSink({ url: mosquitto.url, gatewayId: "bench" }) });
if (nats) cases.push({ name: "nats jetstream, batch 500", batch: 500, sink: () => new NatsEventSink({ servers: [nats.url], gatewayId: "bench", stream: "EVENTS" }) });
const rates = new Map<string, number[]>(cases.map((c) => [c.name, []]));
const bytes: number[] = [];
try {
  let run = 0;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? cases : [...cases].reverse();
    for (const c of order) {
      const { dir, bytesPerEvent } = await fill(run++);
      bytes.push(bytesPerEvent);
      try {
        rates.get(c.name)!.push(await deliver(dir, c.sink(), c.batch, c.received));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
} finally {
  await receiver.close();
  mosquitto?.stop();
  nats?.stop();
}

const result = {
  events,
  rounds,
  journal_bytes_per_event: Math.round(median(bytes)!),
  events_per_second: Object.fromEntries([...rates].map(([name, values]) => [name, Math.round(median(values)!)])),
  /** Median of the per-round ratios MQTT / HTTP at batch 500 (side by side in each round). */
  mqtt_to_http_ratio: mosquitto
    ? Number(median(rates.get("mqtt qos1, batch 500")!.map((v, i) => v / rates.get("http, batch 500")![i]!))!.toFixed(2))
    : null,
  /** Median of the per-round ratios NATS JetStream / HTTP at batch 500. */
  nats_to_http_ratio: nats
    ? Number(median(rates.get("nats jetstream, batch 500")!.map((v, i) => v / rates.get("http, batch 500")![i]!))!.toFixed(2))
    : null,
};
if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  process.stdout.write(`outbox delivery: ${events} events per run, ${rounds} interleaved rounds, medians\n`);
  for (const [name, value] of Object.entries(result.events_per_second)) process.stdout.write(`  ${name.padEnd(26)} ${String(value).padStart(8)} events/s\n`);
  process.stdout.write(`  ${"journal on disk".padEnd(26)} ${String(result.journal_bytes_per_event).padStart(8)} bytes/event\n`);
  process.stdout.write(`  ${"mqtt / http (batch 500)".padEnd(26)} ${String(result.mqtt_to_http_ratio ?? "n/a (mosquitto not installed)").padStart(8)}\n`);
  process.stdout.write(`  ${"nats / http (batch 500)".padEnd(26)} ${String(result.nats_to_http_ratio ?? "n/a (nats-server not installed)").padStart(8)}\n`);
}
