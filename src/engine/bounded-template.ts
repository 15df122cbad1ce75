/**
 * A Jinja chat template rendered with limits on time, memory and output. The
 * template engine (@huggingface/jinja) has no option that bounds loops or
 * output, and a template is code from the model file: `{% for i in
 * range(100000000) %}` would hold a thread and grow its heap for as long as it
 * runs. So rendering happens in a worker thread (chat-template-worker.ts) with
 * a heap limit; a render past its deadline terminates the worker, and the next
 * render starts a fresh one. The thread that decodes tokens only waits on a
 * message, so other sequences keep decoding meanwhile.
 *
 * A parsed template waits in one idle thread between renders (a render of a
 * real template takes well under a millisecond); a second render arriving
 * meanwhile gets a second thread, a third waits.
 */
import { Worker } from "node:worker_threads";
import { CHAT_TEMPLATE_DEFAULTS } from "../config/sections/engine.js";
import { EdgeError, isEdgeError } from "../errors.js";
import type { TemplateLimits } from "./types.js";

export type { TemplateLimits };

/** The limits config `engine.chat_template` sets. */
export function templateLimits(section: { render_timeout_ms: number; max_output_bytes: number; memory_mb: number; max_source_bytes: number }): TemplateLimits {
  return { renderTimeoutMs: section.render_timeout_ms, maxOutputBytes: section.max_output_bytes, memoryMb: section.memory_mb, maxSourceBytes: section.max_source_bytes };
}

/** The limits when none are given: the defaults of `engine.chat_template`. */
export const DEFAULT_TEMPLATE_LIMITS: Readonly<TemplateLimits> = templateLimits(CHAT_TEMPLATE_DEFAULTS);

/** A limit a render went past, named by its config key. */
export type TemplateLimit = "render_timeout_ms" | "max_output_bytes" | "memory_mb" | "max_source_bytes";

/** What a render gave: the text, or the template's own error (a parse error or one raised while rendering). */
export type RenderOutcome = { ok: true; text: string } | { ok: false; parseError: boolean; message: string };

/** @internal the worker's start data and messages (chat-template-worker.ts) */
export interface TemplateWorkerData {
  source: string;
  maxOutputBytes: number;
  /** The worker's heap limit: range() refuses lists that could not fit in it (see chat-template-worker.ts). */
  memoryMb: number;
}
/** @internal */
export interface RenderRequest {
  id: number;
  context: Record<string, unknown>;
}
/** @internal */
export type RenderReply = { id: number; kind: "text"; text: string } | { id: number; kind: "parse" | "error" | "output" | "memory"; message: string };

const WORKER_FILE = new URL("./chat-template-worker.js", import.meta.url);

/** "did not finish rendering within 2000 ms (engine.chat_template.render_timeout_ms)" and its like. */
export function describeTemplateLimit(limit: TemplateLimit, limits: TemplateLimits, phase: "parse" | "render" = "render"): string {
  switch (limit) {
    case "render_timeout_ms":
      return `did not finish ${phase === "parse" ? "parsing" : "rendering"} within ${limits.renderTimeoutMs} ms (engine.chat_template.render_timeout_ms)`;
    case "max_source_bytes":
      return `is longer than ${limits.maxSourceBytes} bytes (engine.chat_template.max_source_bytes)`;
    case "max_output_bytes":
      return `rendered more than ${limits.maxOutputBytes} bytes (engine.chat_template.max_output_bytes)`;
    case "memory_mb":
      return `needed more than ${limits.memoryMb} MiB of memory to render (engine.chat_template.memory_mb)`;
  }
}

/** The error a render past a limit rejects with: unsupported_model, with `details.limit`. */
function limitError(limit: TemplateLimit, limits: TemplateLimits, phase: "parse" | "render" = "render"): EdgeError {
  return new EdgeError("unsupported_model", `the chat template ${describeTemplateLimit(limit, limits, phase)}`, { details: { limit, phase } });
}

/** Renders that may run at once per template, each in its own thread (one more waits). */
const MAX_RENDER_THREADS = 2;

/** Deadline for starting a rendering thread and loading the template engine in it, in ms (the template's parse then gets render_timeout_ms). */
const STARTUP_MS = 10_000;

export class BoundedTemplate {
  /** Threads with the template parsed, waiting for a render (at most one is kept). */
  private readonly idle: Worker[] = [];
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private nextId = 1;
  private disposed = false;

  constructor(
    private readonly source: string,
    readonly limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS,
  ) {}

  /**
   * Renders the template with `context` (plain, structured-cloneable data).
   * Resolves with the text or the template's own error; rejects with an
   * `unsupported_model` EdgeError (`details.limit` names the limit) when the
   * render went past a limit. Up to two renders run at once, so one slow
   * render does not hold up the next request's.
   */
  async render(context: Record<string, unknown>): Promise<RenderOutcome> {
    const worker = await this.take();
    let healthy = false;
    try {
      const outcome = await this.renderOn(worker, context);
      healthy = true;
      return outcome;
    } catch (error) {
      // An output past the cap leaves a healthy thread; every other failure ended it.
      healthy = isEdgeError(error) && error.details?.limit === "max_output_bytes";
      throw error;
    } finally {
      this.give(worker, healthy);
    }
  }

  /** Stops the rendering threads (renders waiting for one fail). */
  async dispose(): Promise<void> {
    this.disposed = true;
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all(this.idle.splice(0).map((w) => w.terminate()));
  }

  private async take(): Promise<Worker> {
    for (;;) {
      if (this.disposed) throw new EdgeError("model_not_ready", "the model was unloaded");
      const idle = this.idle.pop();
      if (idle) {
        this.running++;
        return idle;
      }
      if (this.running < MAX_RENDER_THREADS) {
        this.running++;
        try {
          return await this.spawn();
        } catch (error) {
          this.running--;
          this.waiting.shift()?.();
          throw error;
        }
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private give(worker: Worker, healthy: boolean): void {
    this.running--;
    if (healthy && !this.disposed && this.idle.length === 0) this.idle.push(worker);
    else void worker.terminate();
    this.waiting.shift()?.();
  }

  private renderOn(worker: Worker, context: Record<string, unknown>): Promise<RenderOutcome> {
    const id = this.nextId++;
    return new Promise<RenderOutcome>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      const fail = (error: EdgeError): void => {
        settle();
        reject(error);
      };
      const timer = setTimeout(() => fail(limitError("render_timeout_ms", this.limits)), this.limits.renderTimeoutMs);
      const onMessage = (reply: RenderReply): void => {
        if (reply.id !== id) return;
        settle();
        if (reply.kind === "text") resolve({ ok: true, text: reply.text });
        else if (reply.kind === "output") reject(limitError("max_output_bytes", this.limits));
        else if (reply.kind === "memory") reject(limitError("memory_mb", this.limits));
        else resolve({ ok: false, parseError: reply.kind === "parse", message: reply.message });
      };
      const onError = (error: Error & { code?: string }): void => {
        if (error.code === "ERR_WORKER_OUT_OF_MEMORY") fail(limitError("memory_mb", this.limits));
        else fail(new EdgeError("internal", `the chat template renderer failed: ${error.message}`));
      };
      const onExit = (code: number): void => fail(new EdgeError("internal", `the chat template renderer stopped (exit code ${code})`));
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
      try {
        worker.postMessage({ id, context } satisfies RenderRequest);
      } catch (error) {
        fail(new EdgeError("invalid_request", `the messages cannot be passed to the chat template: ${(error as Error).message}`));
      }
    });
  }

  /**
   * A new thread with the template parsed. Starting a thread and loading the
   * template engine takes a while on a busy board and is not the template's
   * doing: it gets STARTUP_MS. Parsing is (a 7 MB template nested 5,000 deep
   * parses for seconds): it gets the render limit, from the thread's `loaded`.
   */
  private spawn(): Promise<Worker> {
    const memoryMb = this.limits.memoryMb;
    const worker = new Worker(WORKER_FILE, {
      workerData: { source: this.source, maxOutputBytes: this.limits.maxOutputBytes, memoryMb } satisfies TemplateWorkerData,
      resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: Math.max(4, Math.min(32, Math.floor(memoryMb / 4))), stackSizeMb: 4 },
    });
    // An idle renderer never keeps a process alive; a render in progress does (its deadline timer).
    worker.unref();
    // Errors are handled per render; without a listener an error event would end the process.
    worker.on("error", () => {});
    return new Promise<Worker>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        worker.off("message", onReady);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      const fail = (error: EdgeError): void => {
        settle();
        void worker.terminate();
        reject(error);
      };
      let timer = setTimeout(() => fail(new EdgeError("internal", `the chat template renderer did not start within ${STARTUP_MS} ms`)), STARTUP_MS);
      const onReady = (message: { loaded?: boolean; ready?: boolean }): void => {
        if (message.loaded === true) {
          clearTimeout(timer);
          timer = setTimeout(() => fail(limitError("render_timeout_ms", this.limits, "parse")), this.limits.renderTimeoutMs);
          return;
        }
        if (message.ready !== true) return;
        settle();
        resolve(worker);
      };
      const onError = (error: Error & { code?: string }): void =>
        fail(error.code === "ERR_WORKER_OUT_OF_MEMORY" ? limitError("memory_mb", this.limits) : new EdgeError("internal", `the chat template renderer failed to start: ${error.message}`));
      const onExit = (code: number): void => fail(new EdgeError("internal", `the chat template renderer stopped while starting (exit code ${code})`));
      worker.on("message", onReady);
      worker.on("error", onError);
      worker.on("exit", onExit);
    });
  }
}
