/**
 * One served model following a registry tag. A check (on a jittered timer,
 * or `POST /admin/rollout/check`) asks the registry which digest the tag of
 * this gateway's wave points to; a new one is pulled and verified in the
 * background (`pullOci`: digests, trust policy) while the old version serves,
 * then swapped in through the pool with the smoke set as its gate: overlap
 * when both versions fit in memory, else drain, unload, load. A refused or
 * failing digest is recorded (never tried again until a newer one appears),
 * alerted, and removed from the store; the previous version stays in the
 * store for rollback. After the switch the new version is watched for its
 * wave's `healthy_for_s`: a crash or a failed smoke run in that window rolls
 * back to the previous version; a clean window publishes the healthy tag the
 * next wave follows (wave-plan.ts).
 */
import type { Config } from "../config/schema.js";
import type { Runner } from "../engine/runner.js";
import { EdgeError, toEdgeError, TRUST_REFUSAL_CODES } from "../errors.js";
import { logger } from "../log.js";
import type { SwapOptions, SwapResult, ModelChange } from "../scheduler/model-pool.js";
import type { RequestContext, RolloutReport, ServedModelStatus, ServedStream } from "../scheduler/served-model.js";
import type { GenerateRequest } from "../engine/types.js";
import { readFollowedState, writeFollowedState, type FollowedState, type FollowedVersion } from "../store/followed-versions.js";
import { ModelStore } from "../store/model-store.js";
import { formatOciReference, parseOciReference, pullOci, type OciRef } from "../store/oci/oci-source.js";
import { RegistryClient } from "../store/oci/registry-client.js";
import { versionOf } from "./manifest-version.js";
import { runSmokeSet } from "./smoke-gate.js";
import { chooseSwapMode } from "./swap-mode.js";
import { planWave, type WavePlan } from "./wave-plan.js";

/** What a follower needs of the served model (ModelPool is one). */
export interface FollowedModel {
  readonly name: string;
  readonly servedRef: string;
  describe(): ServedModelStatus;
  swap(change: ModelChange, options: SwapOptions): Promise<SwapResult>;
  generate(request: GenerateRequest, context: RequestContext): Promise<ServedStream>;
  reportRollout(report: () => RolloutReport): void;
}

/** What a follower tells metrics and alerts. */
export interface RolloutRecorder {
  checked(model: string, result: "unchanged" | "new" | "refused" | "waiting" | "error"): void;
  switched(model: string, result: SwapResult): void;
  gateFailed(model: string, digest: string, reason: string): void;
  rolledBack(model: string, digest: string, reason: string, by: "watch" | "operator"): void;
  published(model: string, tag: string): void;
  recovered(model: string): void;
}

export type CheckOutcome = { result: "unchanged" | "waiting" | "refused" | "new" | "error"; digest?: string; detail: string };

export class ModelFollower {
  readonly follow: OciRef;
  readonly wave: WavePlan;
  private state: FollowedState;
  private phase = "idle";
  private reason: string | undefined;
  private lastCheckAt: Date | undefined;
  private running: Promise<CheckOutcome> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watch: { timer: NodeJS.Timeout; stop: () => void } | undefined;
  private closed = false;

  constructor(
    private readonly model: FollowedModel,
    private readonly config: Config,
    follow: string,
    private readonly recorder: RolloutRecorder,
    /** Subscribes to this model's unexpected runner exits; returns the unsubscribe. */
    private readonly onCrash: (listener: () => void) => () => void,
  ) {
    this.follow = parseOciReference(follow);
    this.wave = planWave(this.follow, config.server.rollout);
    this.state = readFollowedState(config, model.name, follow);
    model.reportRollout(() => this.report());
  }

  /** Polls on a jittered timer from now on (the first check after one interval). */
  start(): void {
    if (this.closed) return;
    const { poll_interval_s: interval, poll_jitter: jitter } = this.config.server.rollout;
    const delay = interval * 1000 * (1 - jitter + 2 * jitter * Math.random());
    this.timer = setTimeout(() => void this.check().finally(() => this.start()), delay);
    this.timer.unref();
  }

  stop(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.watch?.stop();
  }

  report(): RolloutReport {
    const current = this.state.current;
    return {
      follow: formatOciReference(this.follow),
      polls: formatOciReference(this.wave.polls),
      group: this.wave.group,
      digest: current?.digest ?? "",
      version: current?.version ?? "",
      state: this.phase,
      ...(this.reason !== undefined ? { reason: this.reason } : {}),
      ...(this.state.previous ? { previous: { digest: this.state.previous.digest, version: this.state.previous.version, ref: this.state.previous.ref } } : {}),
      refused: this.state.refused,
      ...(this.lastCheckAt ? { lastCheckAt: this.lastCheckAt.toISOString() } : {}),
    };
  }

  /** Asks the registry now; a check already running is joined, not repeated. */
  check(): Promise<CheckOutcome> {
    this.running ??= this.checkNow().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Serves the previous version again and refuses the current digest (`edgelm admin rollback`). */
  async rollback(reason = "rolled back by an operator", by: "watch" | "operator" = "operator"): Promise<RolloutReport> {
    const { current, previous } = this.state;
    if (!current || !previous) throw new EdgeError("usage", `model ${this.model.name} has no previous version to roll back to`, { param: "model" });
    await this.running?.catch(() => undefined);
    this.watch?.stop();
    this.phase = "switching";
    const result = await this.model.swap({ ref: previous.ref }, { mode: await chooseSwapMode(this.config, this.model.describe(), previous.ref) });
    this.recorder.switched(this.model.name, result);
    this.refuse(current.digest, reason);
    this.state = { ...this.state, current: previous, previous: undefined };
    await writeFollowedState(this.config, this.model.name, this.state);
    this.recorder.rolledBack(this.model.name, current.digest, reason, by);
    this.phase = "rolled_back";
    this.reason = `${current.version} (${current.digest}): ${reason}`;
    logger.warn(`rollout ${this.model.name}: back on ${previous.version}; ${this.reason}`);
    await this.removeFromStore(current.ref);
    return this.report();
  }

  private async checkNow(): Promise<CheckOutcome> {
    this.lastCheckAt = new Date();
    const where = formatOciReference(this.wave.polls);
    const client = new RegistryClient(this.wave.polls.registry, this.config);
    let manifest: { bytes: Buffer; digest: string };
    try {
      manifest = await client.getManifest(this.wave.polls.repository, this.wave.polls.tag ?? "latest");
    } catch (error) {
      const edge = toEdgeError(error);
      const waiting = edge.details?.status === 404;
      if (waiting && this.wave.polls !== this.follow) {
        this.recorder.checked(this.model.name, "waiting");
        return { result: "waiting", detail: `${where} does not exist yet: the wave before this one has published nothing` };
      }
      this.recorder.checked(this.model.name, "error");
      logger.warn(`rollout ${this.model.name}: cannot check ${where}: ${edge.message}`);
      return { result: "error", detail: edge.message };
    }
    const digest = manifest.digest;
    if (digest === this.state.current?.digest) {
      this.recorder.checked(this.model.name, "unchanged");
      return { result: "unchanged", digest, detail: `${where} is still ${digest}` };
    }
    const refused = this.state.refused.find((r) => r.digest === digest);
    if (refused) {
      this.recorder.checked(this.model.name, "refused");
      return { result: "refused", digest, detail: `${digest} was refused here (${refused.reason}); waiting for a newer digest` };
    }
    this.recorder.checked(this.model.name, "new");
    return this.take(digest, versionOf(manifest.bytes, digest), client);
  }

  /** Pull → gate → switch → watch, for one new digest. */
  private async take(digest: string, version: string, client: RegistryClient): Promise<CheckOutcome> {
    const label = `${this.model.name} ${version} (${digest})`;
    this.phase = "pulling";
    let pulledRef: string;
    try {
      const pulled = await pullOci({ ...this.follow, tag: undefined, digest }, this.config);
      pulledRef = pulled.entry.reference;
    } catch (error) {
      const edge = toEdgeError(error);
      // A refused artifact stays refused; a broken transfer is tried again at the next check.
      if (TRUST_REFUSAL_CODES.has(edge.code) || ["invalid_gguf", "unsupported", "unsupported_model"].includes(edge.code)) return this.refuseCandidate(digest, label, edge);
      this.phase = "idle";
      this.reason = `pulling ${label} failed: ${edge.message}`;
      this.recorder.checked(this.model.name, "error");
      return { result: "error", digest, detail: this.reason };
    }
    this.phase = "gating";
    let result: SwapResult;
    try {
      const gate = (runner: Runner): Promise<void> => runSmokeSet((request, signal) => runner.generate(request, signal), this.config.server.rollout.smoke, label);
      result = await this.model.swap({ ref: pulledRef }, { mode: await chooseSwapMode(this.config, this.model.describe(), pulledRef), gate });
    } catch (error) {
      await this.removeFromStore(pulledRef);
      return this.refuseCandidate(digest, label, toEdgeError(error));
    }
    this.recorder.switched(this.model.name, result);
    const dropped = this.state.previous;
    this.state = { ...this.state, previous: this.state.current, current: { ref: pulledRef, digest, version, since: new Date().toISOString() } };
    await writeFollowedState(this.config, this.model.name, this.state);
    if (dropped && dropped.ref !== this.state.previous?.ref && dropped.ref !== pulledRef) await this.removeFromStore(dropped.ref);
    this.reason = undefined;
    this.recorder.recovered(this.model.name);
    logger.info(`rollout ${this.model.name}: serving ${version} (${digest}) after ${result.mode} swap, ${result.unavailableMs.toFixed(1)} ms without a runner`);
    this.observe(this.state.current!, client);
    return { result: "new", digest, detail: `serving ${label} (${result.mode}, ${result.unavailableMs.toFixed(1)} ms without a runner)` };
  }

  private refuseCandidate(digest: string, label: string, error: EdgeError): CheckOutcome {
    this.refuse(digest, error.message);
    void writeFollowedState(this.config, this.model.name, this.state).catch((e: unknown) => logger.warn(`rollout ${this.model.name}: cannot record the refusal: ${toEdgeError(e).message}`));
    this.phase = "failed";
    this.reason = error.message;
    this.recorder.gateFailed(this.model.name, digest, error.message);
    logger.warn(`rollout ${this.model.name}: refused ${label}: ${error.message}; still serving ${this.state.current?.version ?? this.model.servedRef}`);
    return { result: "refused", digest, detail: error.message };
  }

  private refuse(digest: string, reason: string): void {
    this.state = { ...this.state, refused: [...this.state.refused.filter((r) => r.digest !== digest), { digest, reason, at: new Date().toISOString() }] };
  }

  /** Watches the new version for the wave's healthy time; then a smoke run through admission decides publish or rollback. */
  private observe(version: FollowedVersion, client: RegistryClient): void {
    this.watch?.stop();
    const healthyForS = this.wave.publishes?.healthyForS ?? 0;
    this.phase = "observing";
    let crashed = false;
    const unsubscribe = this.onCrash(() => (crashed = true));
    const timer = setTimeout(() => {
      unsubscribe();
      this.watch = undefined;
      void this.judge(version, client, crashed).catch((error: unknown) => logger.warn(`rollout ${this.model.name}: ${toEdgeError(error).message}`));
    }, healthyForS * 1000);
    timer.unref();
    this.watch = {
      timer,
      stop: () => {
        clearTimeout(timer);
        unsubscribe();
        this.watch = undefined;
      },
    };
  }

  private async judge(version: FollowedVersion, client: RegistryClient, crashed: boolean): Promise<void> {
    if (this.closed || this.state.current?.digest !== version.digest) return;
    let problem = crashed ? "a runner crashed while it served" : undefined;
    if (!problem) {
      try {
        const context = (signal: AbortSignal): RequestContext => ({ requestId: `rollout-${Date.now()}`, route: "rollout.watch", signal, receivedAt: performance.now(), headers: {} });
        await runSmokeSet((request, signal) => this.model.generate(request, context(signal)), this.config.server.rollout.smoke, `${this.model.name} ${version.version}`);
      } catch (error) {
        problem = toEdgeError(error).message;
      }
    }
    if (problem) {
      if (this.state.previous) await this.rollback(problem, "watch");
      else this.reason = problem;
      return;
    }
    const publishes = this.wave.publishes;
    if (!publishes) {
      this.phase = "idle";
      return;
    }
    const manifest = await client.getManifest(this.follow.repository, version.digest);
    await client.putManifest(this.follow.repository, publishes.tag, manifest.bytes, manifest.mediaType);
    this.recorder.published(this.model.name, publishes.tag);
    this.phase = "published";
    logger.info(`rollout ${this.model.name}: ${version.version} served healthily for ${publishes.healthyForS} s; published ${this.follow.registry}/${this.follow.repository}:${publishes.tag}`);
  }

  /** Drops a version no longer kept (a refused candidate, or the one before the previous). */
  private async removeFromStore(ref: string): Promise<void> {
    if (ref === this.model.servedRef || ref === this.state.current?.ref || ref === this.state.previous?.ref) return;
    try {
      await ModelStore.open(this.config).remove(ref);
    } catch (error) {
      logger.warn(`rollout ${this.model.name}: cannot remove ${ref} from the store: ${toEdgeError(error).message}`);
    }
  }
}
