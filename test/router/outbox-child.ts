/**
 * A process that owns an outbox, for crash tests: `append N` appends N events
 * (printing "appended <n>" after each durable append), then idles while
 * forwarding to RECEIVER_URL; the parent kills it with SIGKILL at will.
 */
import { Outbox } from "../../src/router/outbox.js";
import { httpEventDelivery } from "../../src/router/event-delivery.js";

const [dir, mode, countText] = process.argv.slice(2);
const outbox = new Outbox({
  dir: dir!,
  deliver: httpEventDelivery({ url: process.env.RECEIVER_URL!, timeoutMs: 2000 }),
  retryBaseMs: 20,
  retryMaxMs: 200,
  segmentBytes: 16 * 1024,
  onAttempt: (record, error) => {
    if (!error) process.stdout.write(`delivered ${record.seq}\n`);
  },
});
await outbox.start();
process.stdout.write(`started backlog ${outbox.backlog}\n`);
if (mode === "append") {
  const count = Number(countText);
  for (let i = 0; i < count; i++) {
    await outbox.append({ camera: "gate-3", n: i }, `event-${i}`);
    process.stdout.write(`appended ${i + 1}\n`);
  }
}
setInterval(() => {}, 1000);
