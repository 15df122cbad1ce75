/**
 * What the gateway reports about itself, as typed events. Metrics, logs and
 * policies attach listeners here instead of reaching into the request path;
 * with no listener an emit costs next to nothing.
 */
import { EventEmitter } from "node:events";
import type { FinishReason } from "../engine/types.js";
import type { ErrorCode } from "../errors.js";

export interface RequestStartEvent {
  requestId: string;
  /** Dialect and endpoint, e.g. "openai.chat", "ollama.generate". */
  route: string;
  model: string;
  stream: boolean;
}

export interface RequestAdmittedEvent {
  requestId: string;
  route: string;
  model: string;
  runnerId: string;
  /** Time spent waiting for a free sequence (admission queue), in ms. */
  queueWaitMs: number;
}

export interface FirstTokenEvent {
  requestId: string;
  route: string;
  model: string;
  /** From the request's arrival to its first generated text at the gateway, in ms. */
  ttftMs: number;
}

export interface TokensEvent {
  requestId: string;
  model: string;
  /** Tokens in this chunk. */
  tokens: number;
  /** performance.now() when they reached the gateway. */
  at: number;
}

export interface RequestEndEvent {
  requestId: string;
  route: string;
  /** Empty when the request failed before a model was chosen. */
  model: string;
  /** HTTP status sent (a stream that failed after its headers keeps 200 and has errorCode). */
  status: number;
  errorCode?: ErrorCode;
  finishReason?: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Arrival to last byte, in ms. */
  durationMs: number;
  ttftMs?: number;
  queueWaitMs?: number;
  /** Routed models: where the request was served ("local", "peer", "cloud"). */
  servedRoute?: "local" | "peer" | "cloud";
}

/**
 * A generation answered in full (not cancelled, not failed): what was answered,
 * for rules that read answers (router.events.emit). Emitted just before the
 * request's request:end, on every transport, streamed or not.
 */
export interface RequestAnswerEvent {
  requestId: string;
  route: string;
  /** The model as the request named it (a routed model's name, or a local one). */
  model: string;
  /** The local model that generated the answer; absent when a peer or the cloud answered. */
  localModel?: string;
  /** The kind of output the request constrained the answer to; absent for free text. */
  format?: "json_object" | "json_schema" | "grammar";
  text: string;
  finishReason: FinishReason;
  /** The choice this answer is, when the request asked for several (OpenAI's `n` > 1); absent for one. */
  choice?: number;
}

export interface RunnerStartEvent {
  model: string;
  runnerId: string;
  pid: number | undefined;
  backend: string;
  loadMs: number;
}

export interface RunnerExitEvent {
  model: string;
  runnerId: string;
  pid: number | undefined;
  /** False for crashes, kills and OOMs. */
  expected: boolean;
  code: number | null;
  signal: string | null;
}

/** The gateway killed a runner that was alive (it stopped answering its health calls). */
export interface RunnerKillEvent {
  model: string;
  runnerId: string;
  pid: number | undefined;
  reason: "unresponsive";
  /** What happened, for logs: "stopped answering: no health reply within 15000 ms". */
  detail: string;
}

export interface RunnerRestartEvent {
  model: string;
  /** Consecutive crashes so far (1 for the first). */
  attempt: number;
  delayMs: number;
}

export interface ModelStateEvent {
  model: string;
  state: ModelState;
  reason?: string;
}

export interface ModelSwapEvent {
  model: string;
  from: string;
  to: string;
  durationMs: number;
  mode: "overlap" | "drain-first";
  /** Time no runner took new requests, in ms (0 in overlap mode). */
  unavailableMs: number;
}

/**
 * A generation that applied LoRA adapters ended (also by error or abort): the adapters by name (only ones the model
 * serves, so a bounded set), and the tokens it generated.
 */
export interface AdapterGenerationEvent {
  model: string;
  adapters: string[];
  completionTokens: number;
  /** False when it failed (an abort counts as ok: the tokens were generated). */
  ok: boolean;
}

/** loading → ready ⇄ restarting; failed when the file is refused or cannot load; stopped after close. */
/** `unloaded`: no runner, loaded again by the next request (keep_alive, on-demand models). */
export type ModelState = "loading" | "ready" | "restarting" | "failed" | "stopped" | "unloaded";

export interface GatewayEventMap {
  "request:start": [RequestStartEvent];
  "request:admitted": [RequestAdmittedEvent];
  "request:first-token": [FirstTokenEvent];
  "request:tokens": [TokensEvent];
  "request:answer": [RequestAnswerEvent];
  "request:end": [RequestEndEvent];
  "runner:start": [RunnerStartEvent];
  "runner:exit": [RunnerExitEvent];
  "runner:kill": [RunnerKillEvent];
  "runner:restart": [RunnerRestartEvent];
  "model:state": [ModelStateEvent];
  "model:swap": [ModelSwapEvent];
  "adapter:generation": [AdapterGenerationEvent];
}

/** The gateway's event bus (node:events, typed). */
export class GatewayEvents extends EventEmitter<GatewayEventMap> {}
