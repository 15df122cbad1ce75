/**
 * The coordinator's side of federated rounds: publish a round over a store model, check each participant's
 * signed update (signature by a listed key, the round's base, its tensors' names and shapes, finite values, the
 * norm bound), fold accepted ones into a token-weighted FedAvg, and at the deadline (or once every listed
 * participant has sent) write the averaged model into the store as a version of its base, signed with
 * trust.local_key when one is set. A round with fewer updates than its minimum fails, saying so.
 */
import { randomBytes, type KeyObject } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import type { Config } from "../config/schema.js";
import type { CoordinatorConfig } from "../config/sections/federated.js";
import { EdgeError, isEdgeError, toEdgeError } from "../errors.js";
import { readGguf, type GgufFile } from "../gguf/gguf-reader.js";
import { logger } from "../log.js";
import { pushOciModel } from "../store/oci/oci-push.js";
import { formatOciRef, parseOciRef } from "../store/oci/oci-ref.js";
import { formatStoreName, parseStoreName } from "../store/model-ref.js";
import { ModelStore } from "../store/model-store.js";
import { ed25519PublicKey } from "../trust/ed25519-key.js";
import { sha256File } from "../trust/file-hash.js";
import { parsePrivateKeyPem } from "../trust/model-signing/ec-keys.js";
import { signModel } from "../trust/model-signing/sign-model.js";
import { FedAvg } from "./fed-avg.js";
import { decodeUpdate, refused } from "./federated-update.js";
import { readF32Tensors, valueCount, type F32Tensor } from "./model-delta.js";
import { gaussianPrivacy } from "./privacy-accountant.js";
import { privacyJson, publishRoundSchema, type RoundStatus } from "./round-spec.js";

interface Round {
  status: RoundStatus;
  baseName: string;
  basePath: string;
  file: GgufFile;
  base: F32Tensor[];
  avg: FedAvg;
  timer: NodeJS.Timeout | undefined;
}

/** The norm an update may measure: C without noise; with noise, C plus z·C·(√d + 6) (a χ tail far beyond its mean √d). */
export function normBound(clip: number, noiseMultiplier: number, values: number): number {
  return noiseMultiplier > 0 ? clip + noiseMultiplier * clip * (Math.sqrt(values) + 6) : clip * (1 + 1e-5);
}

export class RoundCoordinator {
  private readonly rounds = new Map<string, Round>();
  private readonly keys: Map<string, KeyObject>;
  private readonly store: ModelStore;
  private closed = false;

  constructor(
    private readonly config: Config,
    private readonly settings: CoordinatorConfig,
  ) {
    this.store = ModelStore.open(config);
    this.keys = new Map(
      settings.participants.map((p, i) => {
        const what = `server.federated.coordinator.participants[${i}]`;
        let text = p.public_key;
        if (text === undefined) {
          try {
            text = readFileSync(p.public_key_file!, "utf8");
          } catch (error) {
            throw new EdgeError("invalid_config", `${what}.public_key_file: cannot read ${p.public_key_file}: ${(error as Error).message}`, { param: `${what}.public_key_file` });
          }
        }
        return [p.id, ed25519PublicKey(text, `${what}.public_key`)];
      }),
    );
  }

  /** Largest update body taken, in bytes (server.federated.coordinator.max_update_bytes). */
  get maxUpdateBytes(): number {
    return this.settings.max_update_bytes;
  }

  /** Opens a round (the body of POST /federated/rounds); returns its status. */
  async publish(body: unknown): Promise<RoundStatus> {
    const parsed = publishRoundSchema.safeParse(body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new EdgeError("invalid_request", `${issue.path.join(".") || "body"}: ${issue.message}`, { param: issue.path.join(".") });
    }
    const spec = parsed.data;
    const entry = this.store.get(formatStoreName(parseStoreName(spec.base, "base")));
    if (!entry) throw new EdgeError("model_not_found", `${spec.base} is not in this coordinator's store (a round's base must be a store entry: edgelm add)`, { param: "base" });
    const sha256 = await sha256File(entry.model.path);
    if (sha256 !== entry.model.sha256) throw new EdgeError("integrity_mismatch", `${entry.reference}: the file's SHA-256 is ${sha256}, its manifest says ${entry.model.sha256}`);
    const file = readGguf(entry.model.path);
    const bad = file.tensors.find((t) => !["F32", "F16", "BF16"].includes(t.type.name));
    if (bad) throw new EdgeError("unsupported_model", `${entry.reference} holds ${bad.type.name} weights (${bad.name}); a round trains an F32, F16 or BF16 base`, { param: "base" });
    const id = `r-${randomBytes(6).toString("hex")}`;
    const output = formatStoreName(parseStoreName(spec.output ?? `${entry.name}:fed-${id}`, "output"));
    if (this.store.get(output)) throw new EdgeError("model_exists", `${output} is already in the store; give the round another output`, { param: "output" });
    let publish: string | undefined;
    if (spec.publish !== undefined) {
      let ref;
      try {
        ref = parseOciRef(spec.publish);
      } catch (error) {
        throw new EdgeError("invalid_request", `publish: ${(error as Error).message}`, { param: "publish" });
      }
      if (!ref.tag) throw new EdgeError("invalid_request", `publish: ${spec.publish} has no tag to push to (e.g. oci://host/repo:stable)`, { param: "publish" });
      publish = formatOciRef(ref);
    }
    const base = await readF32Tensors(entry.model.path, file);
    const created = new Date();
    const status: RoundStatus = {
      id,
      state: "open",
      base: { name: entry.reference, sha256 },
      output,
      training: { epochs: spec.epochs, learning_rate: spec.learning_rate, context_size: spec.context },
      clip_norm: spec.clip_norm,
      noise_multiplier: spec.noise_multiplier,
      norm_bound: normBound(spec.clip_norm, spec.noise_multiplier, valueCount(base)),
      min_participants: spec.min_participants,
      ...(publish !== undefined ? { publish } : {}),
      created: created.toISOString(),
      deadline: new Date(created.getTime() + spec.deadline_s * 1000).toISOString(),
      privacy: privacyJson(gaussianPrivacy(spec.noise_multiplier, spec.dp_delta), gaussianPrivacy(spec.noise_multiplier / 2, spec.dp_delta)),
      accepted: [],
      refused: [],
    };
    const round: Round = { status, baseName: entry.reference, basePath: entry.model.path, file, base, avg: new FedAvg(base), timer: undefined };
    round.timer = setTimeout(() => void this.finish(round, "deadline"), spec.deadline_s * 1000);
    round.timer.unref();
    this.rounds.set(id, round);
    this.forgetOldRounds();
    logger.info(`federated round ${id} open: base ${entry.reference}, ${spec.min_participants}+ participants by ${status.deadline}`);
    return status;
  }

  /** Every round kept, newest first; `state` filters. */
  list(state?: string): RoundStatus[] {
    return [...this.rounds.values()].map((r) => r.status).filter((s) => state === undefined || s.state === state).reverse();
  }

  /** One round's status (round_not_found when it is not kept). */
  get(id: string): RoundStatus {
    return this.require(id).status;
  }

  /**
   * Checks one update body and folds it into the round; throws update_refused (reason in `param`), recorded in the
   * round's status and logged. Returns what was accepted.
   */
  async submit(id: string, body: Buffer): Promise<RoundStatus["accepted"][number]> {
    const round = this.require(id);
    if (round.status.state !== "open") throw new EdgeError("round_closed", `round ${id} is ${round.status.state}; it takes no more updates`);
    let key: string | null = null;
    try {
      const received = decodeUpdate(body, this.keys);
      key = received.key;
      const { update } = received;
      const s = round.status;
      if (update.round !== id) throw refused("wrong_round", `the update is for round ${update.round}, sent to round ${id}`);
      if (s.accepted.some((a) => a.key === key)) throw refused("duplicate", `participant "${key}" already sent an update to round ${id}`);
      if (update.base_sha256 !== s.base.sha256) throw refused("wrong_base", `the delta is relative to a base with SHA-256 ${update.base_sha256}; this round's base ${s.base.name} is ${s.base.sha256}`);
      const shapes = (ts: ReadonlyArray<{ name: string; dims: readonly number[] }>): string => ts.map((t) => `${t.name}[${t.dims.join(",")}]`).join(" ");
      if (shapes(update.tensors) !== shapes(round.base)) {
        const i = round.base.findIndex((t, j) => shapes([t]) !== shapes(update.tensors[j] ? [update.tensors[j]] : []));
        throw refused("shape_mismatch", `the update's tensors are not the base's: at tensor ${i} the base has ${shapes(round.base.slice(i, i + 1))}, the update ${update.tensors[i] ? shapes([update.tensors[i]]) : "nothing"} (${update.tensors.length} tensors against ${round.base.length})`);
      }
      if (update.clip_norm !== s.clip_norm || update.noise_multiplier !== s.noise_multiplier) {
        throw refused("wrong_parameters", `the update used clip ${update.clip_norm} and noise ${update.noise_multiplier}; the round asks ${s.clip_norm} and ${s.noise_multiplier}`);
      }
      let sum = 0;
      for (let j = 0; j < received.values.length; j++) {
        const v = received.values[j]!;
        if (!Number.isFinite(v)) throw refused("non_finite", `value ${j} of the delta is ${v}`);
        sum += v * v;
      }
      const norm = Math.sqrt(sum);
      if (norm > s.norm_bound || update.clipped_norm > s.clip_norm * (1 + 1e-5)) {
        throw refused("over_norm", `the delta's L2 norm is ${norm.toPrecision(6)} (declared clipped ${update.clipped_norm.toPrecision(6)}); this round takes at most ${s.norm_bound.toPrecision(6)} (clip ${s.clip_norm})`);
      }
      round.avg.add(received.values, update.tokens);
      const accepted = { key: key!, tokens: update.tokens, norm, clipped_norm: update.clipped_norm, at: new Date().toISOString() };
      s.accepted.push(accepted);
      logger.info(`federated round ${id}: update from ${key} accepted (${update.tokens} tokens, norm ${norm.toPrecision(4)})`);
      if (s.accepted.length >= this.keys.size) void this.finish(round, "every participant sent");
      return accepted;
    } catch (error) {
      const e = isEdgeError(error) ? error : toEdgeError(error);
      const reason = e.code === "update_refused" ? (e.param ?? "refused") : e.code;
      round.status.refused.push({ key, reason, message: e.message, at: new Date().toISOString() });
      logger.warn(`federated round ${id}: refused an update${key ? ` from ${key}` : ""}: ${e.message}`);
      throw e;
    }
  }

  /** Records a refusal decided before the body was read (e.g. too large); unknown rounds are ignored. */
  noteRefusal(id: string, reason: string, message: string): void {
    const round = this.rounds.get(id);
    if (!round) return;
    round.status.refused.push({ key: null, reason, message, at: new Date().toISOString() });
    logger.warn(`federated round ${id}: refused an update: ${message}`);
  }

  /** Closes the round: aggregates when it has its minimum of updates, else fails it. */
  private async finish(round: Round, why: string): Promise<void> {
    const s = round.status;
    if (s.state !== "open" || this.closed) return;
    clearTimeout(round.timer);
    if (s.accepted.length < s.min_participants) {
      s.state = "failed";
      s.reason = `${s.accepted.length} of the ${s.min_participants} updates needed arrived by the deadline (${s.refused.length} refused)`;
      logger.warn(`federated round ${s.id} failed: ${s.reason}`);
      return;
    }
    s.state = "aggregating";
    const started = performance.now();
    const temp = this.store.tempPath();
    const sig = this.store.tempPath();
    try {
      await mkdir(this.store.paths.tmp, { recursive: true });
      await round.avg.write(temp, round.file, round.basePath);
      let signed = false;
      const keyPath = this.config.trust.local_key;
      if (keyPath !== undefined) {
        const pem = await readFile(keyPath).catch((error: unknown) => {
          throw toEdgeError(error, `trust.local_key: cannot read ${keyPath}`);
        });
        await signModel(temp, { privateKey: parsePrivateKeyPem(pem, keyPath), signaturePath: sig });
        signed = true;
      }
      const name = parseStoreName(s.output, "output");
      const totalTokens = s.accepted.reduce((n, a) => n + a.tokens, 0);
      const entry = await this.store.addFineTuned(round.baseName, temp, {
        name: name.name,
        tag: name.tag,
        move: true,
        ...(signed ? { signature: sig } : {}),
        federated: {
          round: s.id,
          base_sha256: s.base.sha256,
          participants: s.accepted.map((a) => ({ key: a.key, tokens: a.tokens, norm: a.norm })),
          total_tokens: totalTokens,
          epochs: s.training.epochs,
          learning_rate: s.training.learning_rate,
          context_size: s.training.context_size,
          clip_norm: s.clip_norm,
          noise_multiplier: s.noise_multiplier,
          epsilon: s.privacy.epsilon,
          delta: s.privacy.delta,
        },
      });
      s.result = { model: entry.reference, sha256: entry.model.sha256, signed, participants: s.accepted.length, total_tokens: totalTokens, seconds: 0 };
      if (s.publish !== undefined) await this.pushResult(s, entry.reference, s.publish);
      s.result.seconds = Number(((performance.now() - started) / 1000).toFixed(3));
      s.state = "done";
      logger.info(`federated round ${s.id} done (${why}): ${entry.reference} from ${s.accepted.length} participants, ${totalTokens} tokens${s.result.published ? `, pushed to ${s.result.published.reference}` : ""}`);
    } catch (error) {
      s.state = "failed";
      s.reason = `aggregation failed: ${toEdgeError(error).message}`;
      logger.error(`federated round ${s.id}: ${s.reason}`);
    } finally {
      await rm(temp, { force: true }).catch(() => {});
      await rm(sig, { force: true }).catch(() => {});
      // The base and the sum are no longer needed.
      round.base = [];
    }
  }

  /**
   * Pushes the round's new version to its registry tag (with its signature as a referrer, as `edgelm push` does), so a
   * fleet following that tag rolls it out through its health gate. A failed push leaves the version in the store
   * and says why in the result.
   */
  private async pushResult(s: RoundStatus, reference: string, publish: string): Promise<void> {
    try {
      const pushed = await pushOciModel(reference, parseOciRef(publish), this.config, { version: `federated-${s.id}` });
      s.result!.published = { reference: pushed.reference, digest: pushed.digest };
    } catch (error) {
      s.result!.publish_error = toEdgeError(error).message;
      logger.error(`federated round ${s.id}: ${reference} is in the store but pushing it to ${publish} failed: ${s.result!.publish_error}`);
    }
  }

  /** Resolves once round `id` is done or failed (tests and `edgelm federate status --wait` poll instead). */
  async settled(id: string, timeoutMs: number): Promise<RoundStatus> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = this.get(id);
      if (s.state === "done" || s.state === "failed") return s;
      if (Date.now() > until) throw new EdgeError("timeout", `round ${id} is still ${s.state} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops every timer (open rounds stay open, unaggregated). */
  close(): void {
    this.closed = true;
    for (const round of this.rounds.values()) clearTimeout(round.timer);
  }

  private require(id: string): Round {
    const round = this.rounds.get(id);
    if (!round) throw new EdgeError("round_not_found", `there is no federated round ${id.slice(0, 80)} on this coordinator`, { param: "round" });
    return round;
  }

  private forgetOldRounds(): void {
    const finished = [...this.rounds.values()].filter((r) => r.status.state === "done" || r.status.state === "failed");
    for (const r of finished.slice(0, Math.max(0, this.rounds.size - this.settings.keep_rounds))) this.rounds.delete(r.status.id);
  }
}
