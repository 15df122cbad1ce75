import assert from "node:assert/strict";
import { createPrivateKey, randomBytes, type KeyObject } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { deltaBytes, describeDelta, encodeUpdate, UPDATE_CONTENT_TYPE, type FederatedUpdate } from "../../src/federate/federated-update.js";
import { deltaNorm, readF32Tensors, type F32Tensor } from "../../src/federate/model-delta.js";
import type { RoundStatus } from "../../src/federate/round-spec.js";
import { TEST_MODEL } from "../helpers.js";
import { ADMIN_KEY, api, ed25519Pair, FLEET_KEY, publishRound, startCoordinator, type Member } from "./federation-fixture.js";

const CLIP = 0.5;

describe("the coordinator refuses bad updates, each with its reason (a real gateway on loopback)", () => {
  let coordinator: Member;
  let round: RoundStatus;
  let base: F32Tensor[];
  const member = ed25519Pair();
  const stranger = ed25519Pair();
  let memberKey: KeyObject;
  let strangerKey: KeyObject;

  before(async () => {
    // No participant trains here: the trainer path is only checked when a round is joined.
    coordinator = await startCoordinator("/nonexistent/llama-finetune", [{ id: "dev-a", publicBase64: member.publicBase64 }, { id: "dev-b", publicBase64: ed25519Pair().publicBase64 }], 2 * 1024 * 1024);
    memberKey = createPrivateKey(member.privatePem);
    strangerKey = createPrivateKey(stranger.privatePem);
    base = await readF32Tensors(TEST_MODEL);
    round = await publishRound(coordinator.url, { base: "stories:base", clip_norm: CLIP, deadline_s: 120, min_participants: 1 });
  });
  after(async () => {
    await coordinator?.close();
  });

  /** A small delta of the base's shapes, scaled to global norm `norm`. */
  const delta = (norm: number, tensors: F32Tensor[] = base): F32Tensor[] => {
    const out = tensors.map((t) => ({ name: t.name, dims: t.dims, values: Float32Array.from(t.values, (_v, j) => Math.sin(j + t.name.length)) }));
    const scale = norm / deltaNorm(out);
    for (const t of out) for (let j = 0; j < t.values.length; j++) t.values[j]! *= scale;
    return out;
  };
  const body = (tensors: F32Tensor[], fields: Partial<FederatedUpdate> = {}, keyId = "dev-a", key = memberKey): Buffer => {
    const bytes = deltaBytes(tensors);
    const update: FederatedUpdate = {
      format: "edgelm.federated-update/1",
      round: round.id,
      base_sha256: round.base.sha256,
      tokens: 100,
      norm: deltaNorm(tensors),
      clipped_norm: Math.min(deltaNorm(tensors), CLIP),
      clip_norm: CLIP,
      noise_multiplier: 0,
      ...describeDelta(tensors, bytes),
      ...fields,
    };
    return encodeUpdate(update, bytes, keyId, key);
  };
  const send = (raw: Buffer, contentType = UPDATE_CONTENT_TYPE, id = round.id) => api(coordinator.url, `/federated/rounds/${id}/updates`, { raw, contentType });
  const expectRefused = async (raw: Buffer, reason: string, contentType?: string): Promise<string> => {
    const r = await send(raw, contentType);
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "update_refused");
    assert.equal(r.body.error.param, reason);
    assert.match(r.body.error.message, new RegExp(`^update refused \\(${reason}\\): `));
    return r.body.error.message as string;
  };

  it("refuses an update signed by a key it does not list", async () => {
    assert.match(await expectRefused(body(delta(0.1), {}, "dev-stranger", strangerKey), "unknown_key"), /no participant key is named "dev-stranger"/);
  });

  it("refuses a listed key id whose signature was made by another key, and a field changed after signing", async () => {
    await expectRefused(body(delta(0.1), {}, "dev-a", strangerKey), "bad_signature");
    const signed = body(delta(0.1));
    const envelopeLength = signed.readUInt32LE(8);
    const envelope = JSON.parse(signed.subarray(12, 12 + envelopeLength).toString("utf8"));
    envelope.update.tokens = 1_000_000; // a participant inflating its weight after signing
    const forged = Buffer.from(JSON.stringify(envelope));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(forged.length);
    await expectRefused(Buffer.concat([signed.subarray(0, 8), length, forged, signed.subarray(12 + envelopeLength)]), "bad_signature");
  });

  it("refuses malformed bodies: random bytes, JSON, and a delta whose bytes are not the signed ones", async () => {
    await expectRefused(randomBytes(4096), "malformed");
    const json = await send(Buffer.from(JSON.stringify({ delta: [1, 2, 3] })), "application/json");
    assert.equal(json.status, 422);
    assert.equal(json.body.error.param, "malformed");
    const good = body(delta(0.1));
    good[good.length - 1] ^= 0xff;
    assert.match(await expectRefused(good, "malformed"), /do not match update.delta_sha256/);
    await expectRefused(good.subarray(0, good.length - 8), "malformed");
  });

  it("refuses a delta relative to another base, and one whose tensors are not the base's", async () => {
    assert.match(await expectRefused(body(delta(0.1), { base_sha256: "0".repeat(64) }), "wrong_base"), new RegExp(round.base.sha256));
    assert.match(await expectRefused(body(delta(0.1, base.slice(1))), "shape_mismatch"), /tensors are not the base's/);
    const reshaped = delta(0.1).map((t, i) => (i === 0 ? { ...t, dims: [...t.dims].reverse() } : t));
    await expectRefused(body(reshaped), "shape_mismatch");
  });

  it("refuses an update over the norm bound, one with values that are not finite, and one made with other round parameters", async () => {
    assert.match(await expectRefused(body(delta(CLIP * 2), { clipped_norm: CLIP }), "over_norm"), /L2 norm is 1\.00000/);
    const nan = delta(0.1);
    nan[3]!.values[5] = Number.NaN;
    await expectRefused(body(nan, { norm: 0.1, clipped_norm: 0.1 }), "non_finite");
    await expectRefused(body(delta(0.1), { noise_multiplier: 1 }), "wrong_parameters");
    await expectRefused(body(delta(0.1), { round: "r-000000000000" }), "wrong_round");
  });

  it("refuses a body over max_update_bytes with 413 before taking it", async () => {
    const r = await send(randomBytes(3 * 1024 * 1024));
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, "payload_too_large");
    assert.match(r.body.error.message, /server\.federated\.coordinator\.max_update_bytes/);
  });

  it("takes a good update once, refuses its duplicate, and lists every refusal with its reason on the round's status", async () => {
    const accepted = await send(body(delta(0.2)));
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.equal(accepted.body.accepted.key, "dev-a");
    assert.ok(Math.abs(accepted.body.accepted.norm - 0.2) < 1e-5);
    await expectRefused(body(delta(0.2)), "duplicate");
    const status = (await api(coordinator.url, `/federated/rounds/${round.id}`)).body as RoundStatus;
    assert.equal(status.state, "open", "dev-b has not sent yet and the deadline is ahead");
    assert.deepEqual(
      status.refused.map((r) => r.reason),
      ["unknown_key", "bad_signature", "bad_signature", "malformed", "malformed", "malformed", "malformed", "wrong_base", "shape_mismatch", "shape_mismatch", "over_norm", "non_finite", "wrong_parameters", "wrong_round", "too_large", "duplicate"],
    );
    assert.equal(status.refused[0]!.key, null, "an unknown key is not named as a participant");
    assert.equal(status.refused[1]!.key, null);
    assert.equal(status.refused.at(-1)!.key, "dev-a");
    assert.deepEqual(status.accepted.map((a) => a.key), ["dev-a"]);
  });

  it("publishing needs an admin key; reading needs an API key; unknown rounds and bad filters are precise errors", async () => {
    const asFleet = await api(coordinator.url, "/federated/rounds", { body: { base: "stories:base" }, key: FLEET_KEY });
    assert.equal(asFleet.status, 403);
    const noKey = await fetch(`${coordinator.url}/federated/rounds`);
    assert.equal(noKey.status, 401);
    const unknownBase = await api(coordinator.url, "/federated/rounds", { body: { base: "nope:missing" }, key: ADMIN_KEY });
    assert.equal(unknownBase.status, 404);
    assert.equal(unknownBase.body.error.code, "model_not_found");
    const badField = await api(coordinator.url, "/federated/rounds", { body: { base: "stories:base", clip_norm: -1 }, key: ADMIN_KEY });
    assert.equal(badField.status, 400);
    assert.equal(badField.body.error.param, "clip_norm");
    const missing = await api(coordinator.url, "/federated/rounds/r-nothere");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, "round_not_found");
    assert.equal((await api(coordinator.url, "/federated/rounds?state=sleeping")).status, 400);
    const open = await api(coordinator.url, "/federated/rounds?state=open");
    assert.deepEqual(open.body.rounds.map((r: RoundStatus) => r.id), [round.id]);
  });
});
