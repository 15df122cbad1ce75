/**
 * Worker-thread entry of BoundedTemplate (bounded-template.ts): parses one
 * chat template and renders it for each message it gets. It runs apart from
 * the thread that decodes tokens, with a heap limit set by its parent, so a
 * template that loops or grows without end is stopped there — terminated at
 * its deadline or out of memory — and never stalls or swells the runner.
 *
 * One growth is stopped before it starts: the template engine's range()
 * builds its whole list at once, and a list that outgrows the heap limit in
 * one allocation makes V8 abort the whole process instead of failing the
 * worker (seen with range(100000000) at 128 MiB). The worker's range() refuses
 * a list longer than the heap could hold (about 256 bytes per item once the
 * template engine wraps it) as going past the memory limit.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Environment, Template } from "@huggingface/jinja";
import type { RenderReply, RenderRequest, TemplateWorkerData } from "./bounded-template.js";

const { source, maxOutputBytes, memoryMb } = workerData as TemplateWorkerData;
const port = parentPort!;

/** The longest list range() makes within the heap limit. */
const MAX_RANGE_ITEMS = Math.floor((memoryMb * 1024 * 1024) / 256);

class RangeTooLong extends Error {}

/** Jinja's range(stop) / range(start, stop[, step]), refusing a list longer than MAX_RANGE_ITEMS before making it. */
function boundedRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error("range() step must not be zero");
  const count = Math.max(0, Math.ceil((stop - start) / step));
  if (!Number.isFinite(count) || count > MAX_RANGE_ITEMS) throw new RangeTooLong(`range() of ${count} items (at most ${MAX_RANGE_ITEMS} within ${memoryMb} MiB)`);
  return Array.from({ length: count }, (_, i) => start + i * step);
}

// The template engine declares its globals through Environment.set on every render: its range() is replaced
// there (a render's own variables cannot shadow a global: declaring one twice is an error).
const declare = Environment.prototype.set;
Environment.prototype.set = function set(this: Environment, name: string, value: unknown) {
  return declare.call(this, name, name === "range" && typeof value === "function" ? boundedRange : value);
};

// Loaded: the parent's parse deadline starts from here.
port.postMessage({ loaded: true });

let template: Template | undefined;
let parseError = "";
try {
  template = new Template(source);
} catch (error) {
  parseError = (error as Error).message;
}

// Ready: the parent's render deadlines start from here.
port.postMessage({ ready: true });

port.on("message", ({ id, context }: RenderRequest) => {
  let reply: RenderReply;
  if (!template) {
    reply = { id, kind: "parse", message: parseError };
  } else {
    try {
      const text = template.render(context);
      const bytes = Buffer.byteLength(text);
      reply = bytes > maxOutputBytes ? { id, kind: "output", message: `${bytes} bytes` } : { id, kind: "text", text };
    } catch (error) {
      const message = (error as Error).message;
      // A string or array past V8's maximum length is output without bound, not a template mistake.
      const tooLong = error instanceof RangeError && /Invalid (string|array) length/.test(message);
      reply = { id, kind: error instanceof RangeTooLong ? "memory" : tooLong ? "output" : "error", message };
    }
  }
  port.postMessage(reply);
});
