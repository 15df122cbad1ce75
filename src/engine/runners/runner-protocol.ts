/**
 * Messages between the gateway and a node-llama-cpp runner process over the
 * fork IPC channel (structured clone, `serialization: "advanced"`). The runner
 * sends everything as batches: one message carries all events produced in one
 * turn of its event loop, so 16 streams decoding together cost one message per
 * step, not sixteen.
 */
import type { SerializedEdgeError } from "../../errors.js";
import type { EmbedOptions, GeneratedChunk, GenerateRequest, GenerationResult, ModelInfo } from "../types.js";
import type { NodeLlamaCppOptions } from "../node-llama-cpp-backend.js";
import type { RunnerSpec } from "../runner.js";

/** The node-llama-cpp binaries a runner loads, pinned by the gateway (local-build-choice.ts pinNodeLlamaCppBuild). */
export type RunnerBuild = Pick<NodeLlamaCppOptions, "build" | "cmakeOptions">;

/** Calls answered with one reply event. */
export type RunnerCall =
  | { method: "embed"; inputs: string[]; options?: EmbedOptions }
  | { method: "tokenize"; text: string; addBos?: boolean }
  | { method: "detokenize"; tokens: number[] }
  | { method: "renderChat"; messages: GenerateRequest["messages"] & object }
  | { method: "health" };

export type ToRunner =
  | { t: "load"; spec: RunnerSpec; build: RunnerBuild }
  | { t: "generate"; id: number; request: GenerateRequest }
  | { t: "cancel"; id: number }
  | { t: "call"; id: number; call: RunnerCall }
  | { t: "shutdown" };

export type RunnerEvent =
  /** The engine accepted the request (prompt checked, a sequence taken); sent with the first chunk or the end. */
  | { t: "accepted"; id: number }
  | { t: "chunk"; id: number; chunk: GeneratedChunk }
  | { t: "end"; id: number; result: GenerationResult }
  /** A generate request failed: before "accepted" it is a rejection, after it a stream failure. */
  | { t: "fail"; id: number; error: SerializedEdgeError }
  | { t: "reply"; id: number; value: unknown }
  | { t: "reply-error"; id: number; error: SerializedEdgeError };

export type FromRunner =
  | { t: "ready"; info: ModelInfo }
  | { t: "load-failed"; error: SerializedEdgeError }
  | { t: "batch"; events: RunnerEvent[] };

/** What the runner's health call returns (the gateway adds the round-trip latency). */
export interface RunnerHealthReply {
  activeSequences: number;
  rssBytes: number;
  uptimeMs: number;
  messagesSent: number;
  eventsSent: number;
  /** The compiled-grammar cache's size (see RunnerHealth). */
  grammarCache?: { entries: number; bytes: number; evictions: number };
}
