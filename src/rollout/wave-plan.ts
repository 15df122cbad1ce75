/**
 * Waves: how a fleet takes a new digest in order. The first group of
 * `server.rollout.waves` (the canaries) polls the followed tag itself; every
 * later group polls `<tag>-healthy-<group before it>`, a tag the gateways of
 * that earlier group push to the same repository once they have served the
 * digest healthily for their `healthy_for_s`. The registry is the one place a
 * fleet already reaches, so no other channel is needed, and `crane ls` /
 * `GET /v2/<repo>/tags/list` shows how far a rollout has gone. A gateway
 * without a group (or without waves) follows the tag and publishes nothing.
 */
import type { RolloutConfig } from "../config/sections/rollout.js";
import type { OciRef } from "../store/oci/oci-source.js";

export interface WavePlan {
  /** The reference this gateway polls. */
  polls: OciRef;
  /** The tag it publishes after `healthyForS` of healthy serving, when it is in a wave. */
  publishes: { tag: string; healthyForS: number } | undefined;
  group: string | undefined;
}

/** The tag gateways of `group` push once they served a digest of `tag` healthily. */
export function healthyTag(tag: string, group: string): string {
  return `${tag}-healthy-${group}`;
}

/** Where a gateway in `rollout.group` looks for new digests of `follow`, and what it tells the next wave. */
export function planWave(follow: OciRef, rollout: RolloutConfig): WavePlan {
  const tag = follow.tag ?? "latest";
  const at = rollout.group === undefined ? -1 : rollout.waves.findIndex((w) => w.group === rollout.group);
  if (at === -1) return { polls: follow, publishes: undefined, group: rollout.group };
  const wave = rollout.waves[at]!;
  const polls = at === 0 ? follow : { ...follow, tag: healthyTag(tag, rollout.waves[at - 1]!.group), digest: undefined };
  const last = at === rollout.waves.length - 1;
  return { polls, publishes: last ? undefined : { tag: healthyTag(tag, wave.group), healthyForS: wave.healthy_for_s }, group: wave.group };
}
