/**
 * Worker-thread entry of BoundedTemplate (bounded-template.ts): parses one
 * chat template and renders it for each message it gets. It runs apart from
 * the thread that decodes tokens, with a heap limit set by its parent, so a
 * template that loops or grows without end is stopped there — terminated at
 * its deadline or out of memory — and never stalls or swells the runner.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Template } from "@huggingface/jinja";
import type { RenderReply, RenderRequest, TemplateWorkerData } from "./bounded-template.js";

const { source, maxOutputBytes } = workerData as TemplateWorkerData;
const port = parentPort!;

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
      reply = { id, kind: tooLong ? "output" : "error", message };
    }
  }
  port.postMessage(reply);
});
