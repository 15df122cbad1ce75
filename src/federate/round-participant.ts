/**
 * A participant's side of one federated round: fetch the round from the coordinator, find the base in the local
 * store by its SHA-256, fine-tune it on the local text (the `edgelm finetune` path, into a temporary file), take
 * the delta (tuned − base), clip its global L2 norm to the round's bound, add Gaussian noise when the round asks,
 * and send only that delta and its counts, signed with this device's Ed25519 key. The text, its hash and its
 * file names stay here; so does the fine-tuned model.
 */
import { readFile, rm, mkdir } from "node:fs/promises";
import type { Config } from "../config/schema.js";
import { fineTuneModel } from "../adapt/fine-tune-model.js";
import { EdgeError, ERROR_CODES, toEdgeError, type ErrorCode } from "../errors.js";
import { ModelStore } from "../store/model-store.js";
import { resolveModel } from "../store/resolve-model.js";
import { ed25519PrivateKey } from "../trust/ed25519-key.js";
import { deltaBytes, describeDelta, encodeUpdate, UPDATE_CONTENT_TYPE, type FederatedUpdate } from "./federated-update.js";
import { addGaussianNoise, clipDelta, computeDelta } from "./model-delta.js";
import type { RoundStatus } from "./round-spec.js";

export interface JoinOptions {
  /** The coordinator's base URL (e.g. http://10.0.0.2:11435). */
  coordinatorUrl: string;
  /** Bearer key for the coordinator's API, when it has keys. */
  coordinatorKey?: string;
  /** This device's Ed25519 private key (PKCS#8 PEM file) and the id the coordinator lists it under. */
  keyPath: string;
  keyId: string;
  /** The local training text: a file or a folder. */
  textPath: string;
  /** The round to join. Default: the coordinator's newest open round. */
  round?: string;
  /** Trainer threads. Default: every core. */
  threads?: number;
  signal?: AbortSignal;
  onStatus?: (line: string) => void;
}

export interface JoinResult {
  round: string;
  /** Tokens of the local text (the update's weight). */
  tokens: number;
  /** The delta's L2 norm before clipping, after clipping (before noise). */
  norm: number;
  clippedNorm: number;
  noiseMultiplier: number;
  /** Bytes of the update body sent. */
  bytesSent: number;
  /** What the coordinator answered (the accepted record). */
  accepted: unknown;
  seconds: number;
}

/** Calls the coordinator; an error answer becomes the EdgeError it describes. */
export async function coordinatorRequest(url: string, init: { method?: string; key?: string; body?: Buffer | string; contentType?: string; signal?: AbortSignal }): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: init.method ?? "GET",
      headers: {
        ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
        ...(init.contentType ? { "content-type": init.contentType } : {}),
      },
      ...(init.body !== undefined ? { body: init.body } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    });
  } catch (error) {
    if (init.signal?.aborted) throw new EdgeError("aborted", "aborted");
    throw new EdgeError("upstream_unavailable", `cannot reach the coordinator at ${url}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new EdgeError("upstream_unavailable", `the coordinator answered ${response.status} with a body that is not JSON`);
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string; param?: string | null } }).error ?? {};
    const code: ErrorCode = error.code !== undefined && error.code in ERROR_CODES ? (error.code as ErrorCode) : response.status === 401 ? "unauthorized" : "upstream_unavailable";
    throw new EdgeError(code, `the coordinator refused: ${error.message ?? `HTTP ${response.status}`}`, error.param ? { param: error.param } : {});
  }
  return json;
}

/** The round to join: `id`, else the newest open one (none open: round_not_found). */
export async function openRound(options: Pick<JoinOptions, "coordinatorUrl" | "coordinatorKey" | "round" | "signal">): Promise<RoundStatus> {
  const base = options.coordinatorUrl.replace(/\/+$/, "");
  const key = options.coordinatorKey;
  const call = (path: string): Promise<unknown> => coordinatorRequest(`${base}${path}`, { ...(key ? { key } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  if (options.round !== undefined) {
    const round = (await call(`/federated/rounds/${encodeURIComponent(options.round)}`)) as RoundStatus;
    if (round.state !== "open") throw new EdgeError("round_closed", `round ${round.id} is ${round.state}; it takes no more updates`);
    return round;
  }
  const { rounds } = (await call("/federated/rounds?state=open")) as { rounds: RoundStatus[] };
  if (!rounds[0]) throw new EdgeError("round_not_found", `the coordinator at ${base} has no open round`);
  return rounds[0];
}

/** Takes part in one round (see the module comment); resolves once the coordinator accepted the update. */
export async function joinRound(config: Config, options: JoinOptions): Promise<JoinResult> {
  const started = performance.now();
  const status = options.onStatus ?? ((): void => undefined);
  const pem = await readFile(options.keyPath).catch((error: unknown) => {
    throw toEdgeError(error, `server.federated.key: cannot read ${options.keyPath}`);
  });
  const privateKey = ed25519PrivateKey(pem, "server.federated.key");
  const round = await openRound(options);
  const store = ModelStore.open(config);
  const entry = store.list().find((e) => e.model.sha256 === round.base.sha256);
  if (!entry) {
    throw new EdgeError("model_not_found", `round ${round.id} trains ${round.base.name} (SHA-256 ${round.base.sha256}); no model in this device's store has that SHA-256: add the same file first`);
  }
  const base = await resolveModel(entry.reference, config, { allowDownload: false });
  await mkdir(store.paths.tmp, { recursive: true });
  const tuned = store.tempPath();
  try {
    status(`round ${round.id}: fine-tuning ${entry.reference} on the local text`);
    const result = await fineTuneModel(base, options.textPath, tuned, config, {
      epochs: round.training.epochs,
      learningRate: round.training.learning_rate,
      contextSize: round.training.context_size,
      validationSplit: 0,
      force: true,
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    status(`round ${round.id}: computing the delta`);
    const tensors = await computeDelta(base.path, tuned);
    const { norm, clippedNorm } = clipDelta(tensors, round.clip_norm);
    addGaussianNoise(tensors, round.noise_multiplier * round.clip_norm);
    const delta = deltaBytes(tensors);
    const update: FederatedUpdate = {
      format: "edgelm.federated-update/1",
      round: round.id,
      base_sha256: round.base.sha256,
      tokens: result.training.tokens,
      norm,
      clipped_norm: clippedNorm,
      clip_norm: round.clip_norm,
      noise_multiplier: round.noise_multiplier,
      ...describeDelta(tensors, delta),
    };
    const body = encodeUpdate(update, delta, options.keyId, privateKey);
    status(`round ${round.id}: sending the delta (${body.length} bytes)`);
    const answer = (await coordinatorRequest(`${options.coordinatorUrl.replace(/\/+$/, "")}/federated/rounds/${encodeURIComponent(round.id)}/updates`, {
      method: "POST",
      body,
      contentType: UPDATE_CONTENT_TYPE,
      ...(options.coordinatorKey ? { key: options.coordinatorKey } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })) as { accepted: unknown };
    return {
      round: round.id,
      tokens: update.tokens,
      norm,
      clippedNorm,
      noiseMultiplier: round.noise_multiplier,
      bytesSent: body.length,
      accepted: answer.accepted,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await rm(tuned, { force: true }).catch(() => {});
  }
}
