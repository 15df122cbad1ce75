/**
 * A pool of worker threads that convert chunks of tensor data (see
 * convert-chunk.ts), so quantization uses every core while the main thread
 * reads and writes. With size 0 the work runs inline on the calling thread.
 */
import { Worker } from "node:worker_threads";
import { EdgeError } from "../../errors.js";
import { convertChunk, type ConvertOutcome } from "./convert-chunk.js";
import type { ConvertJob } from "./quantize-worker.js";

interface Task {
  job: ConvertJob;
  resolve: (outcome: ConvertOutcome) => void;
  reject: (error: unknown) => void;
}

export class QuantizePool implements AsyncDisposable {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly queue: Task[] = [];
  private readonly running = new Map<Worker, Task>();
  private nextId = 0;
  private failure: EdgeError | undefined;
  private closed = false;

  /** @param size worker threads; 0 converts inline on the calling thread */
  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL("./quantize-worker.js", import.meta.url));
      worker.on("message", (message: { id: number; outcome: ConvertOutcome }) => {
        const task = this.running.get(worker);
        this.running.delete(worker);
        this.idle.push(worker);
        if (task && task.job.id === message.id) task.resolve(message.outcome);
        this.pump();
      });
      const fail = (reason: string): void => {
        if (this.closed) return;
        this.failure ??= new EdgeError("internal", `a quantizer worker thread stopped: ${reason}`);
        const task = this.running.get(worker);
        this.running.delete(worker);
        task?.reject(this.failure);
        for (const queued of this.queue.splice(0)) queued.reject(this.failure);
      };
      worker.on("error", (error) => fail(error.message));
      worker.on("exit", (code) => fail(`exit code ${code}`));
      this.all.push(worker);
      this.idle.push(worker);
    }
  }

  /** Converts a chunk; the chunk's buffer is moved to the worker (do not use it afterwards). */
  convert(from: number, to: number, bytes: Uint8Array): Promise<ConvertOutcome> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new EdgeError("internal", "the quantizer pool is closed"));
    if (this.size === 0) {
      try {
        return Promise.resolve(convertChunk(from, to, bytes));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, from, to, bytes }, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop()!;
      const task = this.queue.shift()!;
      this.running.set(worker, task);
      const buffer = task.job.bytes.buffer as ArrayBuffer;
      // Move the buffer when the chunk owns all of it; copy otherwise.
      const movable = task.job.bytes.byteOffset === 0 && task.job.bytes.byteLength === buffer.byteLength;
      worker.postMessage(task.job, movable ? [buffer] : []);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new EdgeError("aborted", "the quantizer pool was closed");
    for (const task of this.queue.splice(0)) task.reject(error);
    for (const task of this.running.values()) task.reject(error);
    this.running.clear();
    await Promise.all(this.all.map((w) => w.terminate()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
