/**
 * Worker thread for bench/fuzz-gguf: classifies mutated GGUF images and posts
 * one message per case, so the main thread can see a hang (no message) and
 * replace the worker. Every `fileEvery`-th case is also read from a temp file
 * through readGguf, which must agree with the in-memory parse.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { checkLoadableFile } from "../../src/engine/load-safety.js";
import { isEdgeError } from "../../src/errors.js";
import { setLogLevel } from "../../src/log.js";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { classifyGguf, type GgufCaseOutcome } from "./classify-gguf.js";
import { ggufMutations } from "./gguf-mutator.js";

export interface FuzzWorkerInput {
  modelPath: string;
  seed: number;
  /** First case index to run (cases before it are generated and skipped). */
  start: number;
  count: number;
  fileEvery: number;
}

export interface FuzzCaseMessage {
  index: number;
  name: string;
  result: GgufCaseOutcome;
  ms: number;
  /** For readGguf cross-checks: did the file path agree with the buffer parse? */
  fileAgrees?: boolean;
}

function classifyFile(path: string): string {
  try {
    checkLoadableFile(readGguf(path), path);
    return "accepted";
  } catch (error) {
    return isEdgeError(error) ? error.code : "crash";
  }
}

const input = workerData as FuzzWorkerInput;
setLogLevel("error"); // a broken chat template is a warning per case
const base = new Uint8Array(readFileSync(input.modelPath));
const dir = mkdtempSync(join(tmpdir(), "edgelm-fuzz-"));
try {
  let index = 0;
  for (const mutation of ggufMutations(base, input.seed, input.count)) {
    if (index >= input.start) {
      // Generating the skipped cases again takes a while (about 3 ms each); the hang timer starts now.
      if (index === input.start && index > 0) parentPort!.postMessage({ resumed: true });
      const started = performance.now();
      const result = await classifyGguf(mutation.bytes);
      const message: FuzzCaseMessage = { index, name: mutation.name, result, ms: performance.now() - started };
      if (input.fileEvery > 0 && index % input.fileEvery === 0) {
        const path = join(dir, "case.gguf");
        writeFileSync(path, mutation.bytes);
        const viaFile = classifyFile(path);
        // The file check covers the header; the chat template's probe is classifyGguf's alone.
        message.fileAgrees = viaFile === (result.outcome === "rejected" && result.code === "invalid_gguf" ? result.code : "accepted");
      }
      parentPort!.postMessage(message);
    }
    index++;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
