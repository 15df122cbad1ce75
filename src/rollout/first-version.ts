/**
 * Before `edgelm serve` plans its models: a model that follows a tag and has
 * no version yet gets its first one here (pulled and verified like any
 * `edgelm pull`; there is no running version to gate it against). A later
 * wave whose healthy tag does not exist yet starts from the followed tag.
 */
import type { Config } from "../config/schema.js";
import { EdgeError, toEdgeError } from "../errors.js";
import { logger } from "../log.js";
import { readFollowedState, writeFollowedState } from "../store/followed-versions.js";
import { ModelStore } from "../store/model-store.js";
import { formatOciReference, parseOciReference, pullOci } from "../store/oci/oci-source.js";
import { RegistryClient } from "../store/oci/registry-client.js";
import { versionOf } from "./manifest-version.js";
import { planWave } from "./wave-plan.js";

/** Pulls the first version of every followed model that has none (see the module comment). */
export async function pullFirstVersions(config: Config): Promise<void> {
  for (const entry of config.server.models) {
    if (entry.follow === undefined || entry.ref !== undefined || entry.name === undefined) continue;
    const state = readFollowedState(config, entry.name, entry.follow);
    if (state.current && ModelStore.open(config).get(state.current.ref)) continue;
    const follow = parseOciReference(entry.follow);
    const wave = planWave(follow, config.server.rollout);
    const client = new RegistryClient(follow.registry, config);
    let manifest: { bytes: Buffer; digest: string };
    try {
      manifest = await client.getManifest(follow.repository, wave.polls.tag ?? "latest");
    } catch (error) {
      if (toEdgeError(error).details?.status !== 404 || wave.polls === follow) throw error;
      logger.warn(`model ${entry.name}: ${formatOciReference(wave.polls)} does not exist yet; starting from ${entry.follow}`);
      manifest = await client.getManifest(follow.repository, follow.tag ?? "latest");
    }
    if (state.refused.some((r) => r.digest === manifest.digest)) {
      throw new EdgeError("model_not_ready", `model ${entry.name}: ${entry.follow} points to ${manifest.digest}, which was refused here before, and no earlier version is kept`);
    }
    const pulled = await pullOci({ ...follow, tag: undefined, digest: manifest.digest }, config);
    const version = versionOf(manifest.bytes, manifest.digest);
    await writeFollowedState(config, entry.name, { ...state, current: { ref: pulled.entry.reference, digest: manifest.digest, version, since: new Date().toISOString() } });
    logger.info(`model ${entry.name}: first version ${version} (${manifest.digest}) from ${entry.follow}`);
  }
}
