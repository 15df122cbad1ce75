/**
 * A quantizer worker thread: converts the chunks the main thread posts
 * ({ id, from, to, bytes }) and posts back { id, outcome }, moving buffers
 * instead of copying them.
 */
import { parentPort } from "node:worker_threads";
import { convertChunk } from "./convert-chunk.js";

export interface ConvertJob {
  id: number;
  from: number;
  to: number;
  bytes: Uint8Array;
}

parentPort?.on("message", (job: ConvertJob) => {
  let outcome;
  try {
    outcome = convertChunk(job.from, job.to, job.bytes);
  } catch (error) {
    outcome = { ok: false as const, message: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage({ id: job.id, outcome }, outcome.ok ? [outcome.bytes.buffer as ArrayBuffer] : []);
});
