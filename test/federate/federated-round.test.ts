import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fineTuneModel } from "../../src/adapt/fine-tune-model.js";
import { trainingTextHash } from "../../src/adapt/training-text.js";
import { decodeUpdate } from "../../src/federate/federated-update.js";
import { readF32Tensors } from "../../src/federate/model-delta.js";
import { gaussianPrivacy } from "../../src/federate/privacy-accountant.js";
import type { RoundStatus } from "../../src/federate/round-spec.js";
import { ModelStore } from "../../src/store/model-store.js";
import { pullOciModel } from "../../src/store/oci/oci-pull.js";
import { parseOciRef } from "../../src/store/oci/oci-ref.js";
import { TestRegistry } from "../store/oci/registry-fixture.js";
import { tempHome } from "../helpers.js";
import { loadConfig } from "../../src/config/load-config.js";
import { resolveModel } from "../../src/store/resolve-model.js";
import { ed25519PublicKey } from "../../src/trust/ed25519-key.js";
import { CLI, TEST_MODEL, testTrainer } from "../helpers.js";
import {
  ADMIN_KEY,
  ed25519Pair,
  eightGrams,
  FLEET_KEY,
  perplexity,
  publishRound,
  RecordingProxy,
  settledRound,
  shards,
  startCoordinator,
  startParticipant,
  type Member,
} from "./federation-fixture.js";

const TRAINING = { base: "stories:base", epochs: 2, learning_rate: 1e-4, context: 64, clip_norm: 0.25 };
/** The federated model's held-out perplexity is at most this factor of the centralised model's (same data, same settings). */
const CENTRAL_FACTOR = 1.1;
/** With noise on (z = 0.004, σ = 0.001 per value), the aggregated model may be at most this much worse than the base. */
const NOISE_SLACK = 1.05;

/** Every update body (from its "EDLMFED1" magic to its last delta byte) in a recorded byte stream. */
function updateBodies(stream: Buffer): Buffer[] {
  const bodies: Buffer[] = [];
  for (let at = stream.indexOf("EDLMFED1"); at >= 0; at = stream.indexOf("EDLMFED1", at + 1)) {
    const envelopeLength = stream.readUInt32LE(at + 8);
    const envelope = JSON.parse(stream.subarray(at + 12, at + 12 + envelopeLength).toString("utf8")) as { update: { delta_bytes: number } };
    bodies.push(stream.subarray(at, at + 12 + envelopeLength + envelope.update.delta_bytes));
  }
  return bodies;
}

describe("federated rounds on loopback (a coordinator and 3 participant gateways, stories260K, the real trainer)", () => {
  let trainer: string;
  let coordinator: Member;
  let registry: TestRegistry;
  const participants: Member[] = [];
  const proxies: RecordingProxy[] = [];
  const pairs = ["dev-garden", "dev-boat", "dev-bakery"].map((id) => ({ id, ...ed25519Pair() }));
  const data = shards();
  const keys = new Map<string, KeyObject>();
  const table: Record<string, Record<string, number>> = {};

  before(async () => {
    trainer = await testTrainer();
    registry = await TestRegistry.start();
    coordinator = await startCoordinator(trainer, pairs, undefined, { oci: { insecure: [registry.host] } });
    for (const [i, pair] of pairs.entries()) {
      keys.set(pair.id, ed25519PublicKey(pair.publicBase64, pair.id));
      const proxy = await RecordingProxy.start(coordinator.url);
      proxies.push(proxy);
      participants.push(await startParticipant(trainer, pair.id, pair.privatePem, data[i]!.train, proxy.url));
    }
  });
  after(async () => {
    await Promise.all(participants.map((p) => p.close()));
    await coordinator?.close();
    await Promise.all(proxies.map((p) => p.close()));
    await registry?.stop();
    if (Object.keys(table).length > 0) console.log(`held-out perplexity: ${JSON.stringify(table)}`);
  });

  const heldOut = async (ref: string, column: string): Promise<number[]> => {
    const out: number[] = [];
    for (const shard of data) {
      const p = await perplexity(coordinator.config, ref, shard.heldOut);
      (table[shard.name] ??= {})[column] = Number(p.toFixed(3));
      out.push(p);
    }
    return out;
  };

  it("without noise: 3 participants' deltas are averaged by tokens into a store version that beats the base on every shard's held-out text and comes near a centralised fine-tune", async () => {
    const started = Date.now();
    const round = await publishRound(coordinator.url, { ...TRAINING, noise_multiplier: 0, deadline_s: 120, min_participants: 3, output: "stories:fed-plain" });
    assert.equal(round.state, "open");
    assert.equal(round.privacy.epsilon, null, "no noise, no privacy claim");
    const done = await settledRound(coordinator.url, round.id);
    assert.equal(done.state, "done", JSON.stringify(done));
    assert.deepEqual(done.accepted.map((a) => a.key).sort(), pairs.map((p) => p.id).sort());
    assert.deepEqual(done.refused, []);
    for (const a of done.accepted) assert.ok(a.norm > 0 && a.clipped_norm <= TRAINING.clip_norm && a.tokens > 0, JSON.stringify(a));
    console.log(`round of 3 participants: ${(Date.now() - started) / 1000} s`);

    // The store entry: a version of the base with the round's record, and nothing of any text.
    const store = ModelStore.open(coordinator.config);
    const entry = store.require("stories:fed-plain");
    assert.equal(entry.manifest.fine_tuned_from, "stories:base");
    const record = entry.manifest.federated!;
    assert.equal(record.round, round.id);
    assert.deepEqual(record.participants.map((p) => p.key).sort(), pairs.map((p) => p.id).sort());
    assert.equal(record.total_tokens, done.accepted.reduce((n, a) => n + a.tokens, 0));
    const manifestText = readFileSync(entry.manifestPath, "utf8");
    for (const shard of data) for (const gram of eightGrams(shard.train)) assert.ok(!manifestText.includes(gram));

    // FedAvg, checked against the deltas the participants actually sent (read back from the recorded bytes).
    const base = await readF32Tensors(TEST_MODEL);
    const averaged = await readF32Tensors(entry.model.path);
    const sent = proxies.map((p) => decodeUpdate(updateBodies(p.bytes())[0]!, keys));
    const total = sent.reduce((n, u) => n + u.update.tokens, 0);
    let offset = 0;
    let worst = 0;
    for (const [t, tensor] of base.entries()) {
      const out = averaged[t]!;
      assert.equal(out.name, tensor.name);
      for (let j = 0; j < tensor.values.length; j++) {
        let expected = tensor.values[j]!;
        for (const u of sent) expected += (u.update.tokens / total) * u.values[offset + j]!;
        worst = Math.max(worst, Math.abs(expected - out.values[j]!));
      }
      offset += tensor.values.length;
    }
    assert.ok(worst < 1e-6, `averaged weights differ from base + Σ (n_i/Σn)·Δ_i by up to ${worst}`);

    // Perplexity on each shard's held-out paragraph: base, federated, centralised (all training parts, same settings).
    const all = join(coordinator.home, "all-train.txt");
    writeFileSync(all, data.map((s) => s.train).join("\n"));
    const central = join(coordinator.home, "central.gguf");
    await fineTuneModel(await resolveModel("stories:base", coordinator.config), all, central, coordinator.config, {
      epochs: TRAINING.epochs,
      learningRate: TRAINING.learning_rate,
      contextSize: TRAINING.context,
      validationSplit: 0,
      threads: 1,
    });
    const basePpl = await heldOut("stories:base", "base");
    const fedPpl = await heldOut("stories:fed-plain", "federated");
    const centralPpl = await heldOut(central, "centralised");
    for (const [i, shard] of data.entries()) {
      assert.ok(fedPpl[i]! < basePpl[i]!, `${shard.name}: federated ${fedPpl[i]} < base ${basePpl[i]}`);
      assert.ok(fedPpl[i]! <= centralPpl[i]! * CENTRAL_FACTOR, `${shard.name}: federated ${fedPpl[i]} within ${CENTRAL_FACTOR}× centralised ${centralPpl[i]}`);
    }
  });

  it("with Gaussian noise: the round states its (ε, δ), and the noised average loads, is finite and stays within 5 % of the base", async () => {
    const z = 0.004;
    const round = await publishRound(coordinator.url, { ...TRAINING, noise_multiplier: z, deadline_s: 120, min_participants: 3, output: "stories:fed-noise" });
    const expected = gaussianPrivacy(z, 1e-5);
    assert.equal(round.privacy.epsilon, expected.epsilon);
    assert.equal(round.privacy.epsilon_replace, gaussianPrivacy(z / 2, 1e-5).epsilon);
    assert.ok(round.privacy.epsilon_replace! > expected.epsilon);
    assert.equal(round.privacy.delta, 1e-5);
    assert.ok(round.norm_bound > TRAINING.clip_norm, "the norm bound leaves room for the noise");
    const done = await settledRound(coordinator.url, round.id);
    assert.equal(done.state, "done", JSON.stringify(done));
    assert.equal(done.accepted.length, 3);
    // The noise is really there: each update's measured norm is far above its clipped norm.
    for (const a of done.accepted) assert.ok(a.norm > a.clipped_norm * 2, JSON.stringify(a));
    const basePpl = await heldOut("stories:base", "base");
    const noisy = await heldOut("stories:fed-noise", "federated+noise");
    for (const [i, shard] of data.entries()) {
      assert.ok(Number.isFinite(noisy[i]!) && noisy[i]! <= basePpl[i]! * NOISE_SLACK, `${shard.name}: noised ${noisy[i]} vs base ${basePpl[i]}`);
    }
    assert.equal(ModelStore.open(coordinator.config).require("stories:fed-noise").manifest.federated!.epsilon, expected.epsilon);
  });

  it("byte inspection: nothing a participant sent holds its training text, any 8 consecutive words of it, or its hash", () => {
    for (const [i, proxy] of proxies.entries()) {
      const bytes = proxy.bytes();
      assert.equal(updateBodies(bytes).length, 2, "both rounds' updates were captured");
      const asText = bytes.toString("latin1").replace(/\s+/g, " ");
      const train = data[i]!.train;
      assert.ok(!asText.includes(train.replace(/\s+/g, " ")));
      const grams = eightGrams(train);
      assert.ok(grams.length > 50);
      for (const gram of grams) assert.ok(!asText.includes(gram), `participant ${pairs[i]!.id} sent "${gram}"`);
      assert.ok(!asText.includes(trainingTextHash(train)), "not even the text's hash");
    }
  });

  it("pushes the aggregated version to the round's registry tag, where a gateway pulls the same file; a failed push leaves it in the store and says why", async () => {
    const tag = `oci://${registry.host}/fleet/stories:federated`;
    const round = await publishRound(coordinator.url, { ...TRAINING, deadline_s: 120, min_participants: 3, output: "stories:fed-pushed", publish: tag });
    assert.equal(round.publish, tag);
    const done = await settledRound(coordinator.url, round.id);
    assert.equal(done.state, "done", JSON.stringify(done));
    assert.equal(done.result!.publish_error, undefined, done.result!.publish_error);
    assert.ok(done.result!.published!.reference.startsWith(`${tag}@sha256:`), JSON.stringify(done.result));
    // A device following the tag gets the federated file itself.
    const device = tempHome();
    try {
      const { config } = loadConfig({ env: { EDGELM_HOME: device.home, EDGELM_OCI_INSECURE: registry.host } });
      const pulled = await pullOciModel(parseOciRef(tag), config, { name: { name: "stories", tag: "federated" } });
      assert.equal(pulled.entry.model.sha256, done.result!.sha256);
    } finally {
      device.cleanup();
    }
    // A registry that cannot be reached: the version is still written, and the round says the push failed.
    const unreachable = await publishRound(coordinator.url, { ...TRAINING, deadline_s: 120, min_participants: 3, output: "stories:fed-unpushed", publish: "oci://127.0.0.1:9/fleet/stories:federated" });
    const failed = await settledRound(coordinator.url, unreachable.id);
    assert.equal(failed.state, "done", JSON.stringify(failed));
    assert.equal(failed.result!.published, undefined);
    assert.match(failed.result!.publish_error ?? "", /127\.0\.0\.1:9/);
    assert.equal(ModelStore.open(coordinator.config).require("stories:fed-unpushed").model.sha256, failed.result!.sha256);
    // A reference without a tag (a digest only) is refused when the round is published.
    const refused = await fetch(`${coordinator.url}/federated/rounds`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ ...TRAINING, publish: `oci://${registry.host}/fleet/stories@sha256:${"0".repeat(64)}` }),
    });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /publish: .*no tag/);
  });

  it("a participant killed mid-round (SIGKILL) does not block the round: at the deadline it aggregates the others' updates", async () => {
    // The bakery device takes part from the CLI instead of its gateway, and is killed while it trains.
    const bakery = participants[2]!;
    await bakery.node.participant!.close();
    const started = Date.now();
    const round = await publishRound(coordinator.url, { ...TRAINING, noise_multiplier: 0, deadline_s: 12, min_participants: 2, output: "stories:fed-dropped" });
    const f = bakery.config.server.federated;
    const child = spawn(process.execPath, [CLI, "federate", "join", proxies[2]!.url, "--round", round.id, "--key-file", f.key!, "--key-id", f.key_id!, "--text", f.text!, "--key", FLEET_KEY, "--threads", "1"], {
      env: { ...process.env, EDGELM_HOME: bakery.home, EDGELM_TRAINER: trainer },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    let stderr = "";
    await new Promise<void>((resolve, reject) => {
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes("fine-tuning")) resolve();
      });
      child.on("exit", () => reject(new Error(`join exited before training: ${stderr}`)));
    });
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL");
    const done = await settledRound(coordinator.url, round.id, 60_000);
    assert.equal(done.state, "done", JSON.stringify(done));
    assert.deepEqual(done.accepted.map((a) => a.key).sort(), ["dev-boat", "dev-garden"]);
    assert.ok(Date.now() - started >= 11_500, "it waited for the deadline, not for the killed participant");
    assert.equal(done.result!.participants, 2);
  });

  it("a round with fewer updates than its minimum fails at its deadline, saying why", async () => {
    for (const p of participants) await p.node.participant!.close();
    const round = await publishRound(coordinator.url, { ...TRAINING, deadline_s: 1, min_participants: 2 });
    const done: RoundStatus = await settledRound(coordinator.url, round.id, 10_000);
    assert.equal(done.state, "failed");
    assert.match(done.reason!, /0 of the 2 updates needed arrived by the deadline/);
  });
});
