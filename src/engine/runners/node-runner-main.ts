/**
 * Entry point of a node-llama-cpp runner process, forked by ChildProcessRunner.
 * It hosts one LoadedModel and speaks runner-protocol.ts over the IPC channel.
 * A native crash or an OOM here ends this process only; the gateway restarts it.
 */
import { EdgeError, toEdgeError } from "../../errors.js";
import { setLogLevel } from "../../log.js";
import { NodeLlamaCppBackend } from "../node-llama-cpp-backend.js";
import type { GenerateRequest, LoadedModel } from "../types.js";
import type { FromRunner, RunnerCall, RunnerEvent, RunnerHealthReply, ToRunner } from "./runner-protocol.js";

const send = process.send?.bind(process);
if (!send) {
  process.stderr.write("edgelm: the runner is started by `edgelm serve`, not by hand\n");
  process.exit(2);
}

const startedAt = performance.now();
let model: LoadedModel | undefined;
const running = new Map<number, AbortController>();
const outbox: RunnerEvent[] = [];
let flushScheduled = false;
let messagesSent = 0;
let eventsSent = 0;
// One embedding context per model: embed calls run one after another.
let embedQueue: Promise<unknown> = Promise.resolve();

function post(message: FromRunner, then?: () => void): void {
  send!(message, undefined, undefined, then ? () => then() : undefined);
}

/** Shortest time between two IPC messages carrying only follow-up tokens, in ms (see emit); the HTTP side writes at the same pace. */
const FLUSH_INTERVAL_MS = 2;
let lastFlush = -Infinity;
let flushTimer: NodeJS.Timeout | undefined;

/**
 * Queues an event. Events leave in batches: everything queued in one
 * event-loop turn shares a message (setImmediate runs after the turn's promise
 * callbacks, so the tokens of all sequences decoded in one step go together).
 * Follow-up tokens (`urgent` false) arriving within FLUSH_INTERVAL_MS of the
 * last message wait for the interval to end: a pipe write costs tens of
 * microseconds on a small board, a large share of a token at thousands of
 * tokens/s, while at tens of tokens/s every token still leaves at once.
 * Everything a client waits on — acceptance, first tokens, ends, replies — is urgent.
 */
function emit(event: RunnerEvent, urgent = true): void {
  outbox.push(event);
  if (flushScheduled && !(urgent && flushTimer)) return;
  clearTimeout(flushTimer);
  flushTimer = undefined;
  flushScheduled = true;
  const wait = urgent ? 0 : lastFlush + FLUSH_INTERVAL_MS - performance.now();
  if (wait > 0) flushTimer = setTimeout(flush, wait);
  else setImmediate(flush);
}

function flush(): void {
  flushScheduled = false;
  flushTimer = undefined;
  if (outbox.length === 0) return;
  const events = mergeChunks(outbox.splice(0));
  messagesSent++;
  eventsSent += events.length;
  lastFlush = performance.now();
  post({ t: "batch", events });
}

/**
 * Joins consecutive chunks of one stream in a batch into one chunk (text,
 * tokens and log-probabilities concatenated): the gateway then handles, and
 * its client receives, one piece per message instead of one per token.
 */
function mergeChunks(events: RunnerEvent[]): RunnerEvent[] {
  const out: RunnerEvent[] = [];
  const open = new Map<number, number>();
  for (const event of events) {
    if (event.t !== "chunk") {
      open.delete(event.id);
      out.push(event);
      continue;
    }
    const at = open.get(event.id);
    if (at === undefined) {
      open.set(event.id, out.length);
      out.push(event);
      continue;
    }
    const previous = (out[at] as Extract<RunnerEvent, { t: "chunk" }>).chunk;
    const logprobs = previous.logprobs || event.chunk.logprobs ? [...(previous.logprobs ?? []), ...(event.chunk.logprobs ?? [])] : undefined;
    out[at] = {
      t: "chunk",
      id: event.id,
      chunk: { text: previous.text + event.chunk.text, tokens: [...previous.tokens, ...event.chunk.tokens], ...(logprobs ? { logprobs } : {}) },
    };
  }
  return out;
}

async function generate(id: number, request: GenerateRequest): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  try {
    if (!model) throw new EdgeError("model_not_ready", "the runner has not loaded its model");
    const stream = await model.generate(request, controller.signal);
    // "accepted" travels with the first chunk (or the end): the gateway sends nothing to its
    // client before the first token anyway, and one message less is one wake-up less on the way.
    let accepted = false;
    let first = true;
    for await (const chunk of stream) {
      if (!accepted) emit({ t: "accepted", id }, false);
      accepted = true;
      emit({ t: "chunk", id, chunk }, first);
      if (chunk.text.length > 0) first = false;
    }
    if (!accepted) emit({ t: "accepted", id }, false);
    emit({ t: "end", id, result: await stream.result });
  } catch (error) {
    emit({ t: "fail", id, error: toEdgeError(error, "generation failed").toJSON() });
  } finally {
    running.delete(id);
  }
}

async function answer(id: number, call: RunnerCall): Promise<void> {
  try {
    if (!model) throw new EdgeError("model_not_ready", "the runner has not loaded its model");
    const loaded = model;
    let value: unknown;
    switch (call.method) {
      case "embed": {
        const next = embedQueue.then(() => loaded.embed(call.inputs, undefined, call.options));
        embedQueue = next.catch(() => {});
        value = await next;
        break;
      }
      case "tokenize":
        value = await loaded.tokenize(call.text, call.addBos === undefined ? {} : { addBos: call.addBos });
        break;
      case "detokenize":
        value = await loaded.detokenize(call.tokens);
        break;
      case "renderChat":
        value = await loaded.renderChat(call.messages);
        break;
      case "health": {
        const reply: RunnerHealthReply = {
          activeSequences: loaded.activeSequences,
          rssBytes: process.memoryUsage.rss(),
          uptimeMs: performance.now() - startedAt,
          messagesSent,
          eventsSent,
          ...(loaded.grammarCacheStats ? { grammarCache: loaded.grammarCacheStats() } : {}),
        };
        value = reply;
        break;
      }
    }
    emit({ t: "reply", id, value });
  } catch (error) {
    emit({ t: "reply-error", id, error: toEdgeError(error).toJSON() });
  }
}

async function shutdown(): Promise<void> {
  for (const controller of running.values()) controller.abort();
  await model?.dispose().catch(() => {});
  flush();
  process.exit(0);
}

process.on("message", (message: ToRunner) => {
  switch (message.t) {
    case "generate":
      void generate(message.id, message.request);
      break;
    case "cancel":
      running.get(message.id)?.abort();
      break;
    case "call":
      void answer(message.id, message.call);
      break;
    case "load":
      setLogLevel(message.spec.logLevel ?? "warn");
      new NodeLlamaCppBackend({ gpu: message.spec.gpu ?? false, ...message.build })
        .load(message.spec)
        .then((loaded) => {
          model = loaded;
          post({ t: "ready", info: loaded.info });
        })
        .catch((error: unknown) => {
          post({ t: "load-failed", error: toEdgeError(error, "cannot load the model").toJSON() }, () => process.exit(3));
        });
      break;
    case "shutdown":
      void shutdown();
      break;
  }
});

// The gateway is gone (it crashed or was killed): never linger as an orphan holding memory.
process.on("disconnect", () => process.exit(0));
