/**
 * A process that owns an outbox, for crash tests: `append N` appends N events
 * (printing "appended <n>" after each durable append); `fill N BYTES` appends N
 * events of about BYTES each, 16 at a time (printing "filled <n>" at the end);
 * then it idles while forwarding to RECEIVER_URL, printing "rss <bytes>" every
 * 100 ms; the parent kills it with SIGKILL at will. SEGMENT_BYTES sets the
 * segment size (default 16 KiB); SINK_CONFIG (JSON, one entry of
 * router.events.sinks) replaces the HTTP sink to RECEIVER_URL; BATCH_EVENTS
 * sets the batch size.
 */
import { eventSinkSchema } from "../../src/config/sections/router-events.js";
import { HttpEventSink } from "../../src/router/http-event-sink.js";
import { Outbox } from "../../src/router/outbox.js";
import { eventSinkFromConfig } from "../../src/router/outbox-from-config.js";

const [dir, mode, countText, sizeText] = process.argv.slice(2);
const outbox = new Outbox({
  dir: dir!,
  sinks: [
    process.env.SINK_CONFIG
      ? eventSinkFromConfig(eventSinkSchema.parse(JSON.parse(process.env.SINK_CONFIG)), "test-gateway")
      : new HttpEventSink({ url: process.env.RECEIVER_URL!, timeoutMs: 2000 }),
  ],
  ...(process.env.BATCH_EVENTS ? { batchEvents: Number(process.env.BATCH_EVENTS) } : {}),
  retryBaseMs: 20,
  retryMaxMs: 200,
  segmentBytes: Number(process.env.SEGMENT_BYTES ?? 16 * 1024),
  onAttempt: (_sink, records, delivered) => {
    if (delivered > 0) process.stdout.write(`delivered ${records[delivered - 1]!.seq}\n`);
  },
});
await outbox.start();
process.stdout.write(`started backlog ${outbox.backlog}\n`);
const count = Number(countText);
if (mode === "append") {
  for (let i = 0; i < count; i++) {
    await outbox.append({ camera: "gate-3", n: i }, `event-${i}`);
    process.stdout.write(`appended ${i + 1}\n`);
  }
} else if (mode === "fill") {
  const padding = "x".repeat(Number(sizeText));
  for (let i = 0; i < count; i += 16) {
    const group = [];
    for (let j = i; j < Math.min(count, i + 16); j++) group.push(outbox.append({ source: `gate-${j % 4}`, n: j, frame: padding }, `event-${j}`));
    await Promise.all(group);
  }
  process.stdout.write(`filled ${count}\n`);
}
setInterval(() => process.stdout.write(`rss ${process.memoryUsage().rss}\n`), 100);
