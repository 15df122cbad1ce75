/**
 * Signed admin commands over a real mosquitto: a gateway serving the demo
 * model subscribes to its command topic; a controller publishes commands
 * signed with Ed25519 and reads the replies. Only signed, fresh, first-seen
 * commands for this gateway run; every other message is refused, counted and
 * answered with the reason.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { loadConfig } from "../../src/config/load-config.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { isEdgeError } from "../../src/errors.js";
import { CommandReplayGuard } from "../../src/ops/command-replay-guard.js";
import { canonicalJson } from "../../src/ops/signed-command.js";
import { createMosquitto, type MosquittoBroker } from "../router/mosquitto-broker.js";
import { demoModel, waitFor } from "../server/gateway-fixture.js";
import { tempHome } from "../helpers.js";
import { get, sampleValue, startOpsGateway, type OpsFixture } from "./ops-gateway-fixture.js";

const GATEWAY = "cam-7";
const COMMANDS = `edgelm/${GATEWAY}/commands`;
const REPLIES = `edgelm/${GATEWAY}/commands/replies`;

const operator = generateKeyPairSync("ed25519");
const viewer = generateKeyPairSync("ed25519");
const stranger = generateKeyPairSync("ed25519");
/** The raw 32-byte public key in base64 (the other form config takes beside PEM). */
const rawPublicKey = (key: KeyObject): string => Buffer.from(key.export({ format: "jwk" }).x!, "base64url").toString("base64");

let sequence = 0;
function command(op: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: `cmd-${Date.now()}-${++sequence}`, op, args, issued_at: new Date().toISOString(), gateway: GATEWAY, ...extra };
}

function signed(cmd: Record<string, unknown>, key: KeyObject = operator.privateKey, keyId = "ops-1"): string {
  return JSON.stringify({ command: cmd, key: keyId, signature: sign(null, Buffer.from(canonicalJson(cmd)), key).toString("base64") });
}

describe("router.events.commands over a real mosquitto", () => {
  let broker: MosquittoBroker;
  let fixture: OpsFixture;
  let controller: MqttClient;
  const replies: Array<Record<string, any>> = [];

  before(async () => {
    broker = await createMosquitto();
    await broker.start();
    fixture = await startOpsGateway({
      models: [demoModel({ parallel: 1 })],
      config: {
        router: {
          events: {
            sinks: [{ type: "mqtt", url: `mqtt://127.0.0.1:${broker.port}`, timeout_ms: 2000 }],
            gateway_id: GATEWAY,
            commands: {
              keys: [
                { id: "ops-1", public_key: operator.publicKey.export({ format: "pem", type: "spki" }).toString() },
                { id: "viewer", public_key: rawPublicKey(viewer.publicKey), ops: ["models"] },
              ],
              max_age_s: 60,
              max_skew_s: 5,
            },
          },
        },
      },
    });
    await fixture.node.commands!.whenSubscribed();
    controller = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: "edgelm-test-controller", protocolVersion: 5 });
    controller.on("message", (_topic, payload) => replies.push(JSON.parse(payload.toString())));
    await controller.subscribeAsync(REPLIES, { qos: 1 });
  });

  after(async () => {
    await controller?.endAsync(true);
    await fixture?.close();
    await broker?.close();
  });

  /** Publishes `message` and resolves with the reply it gets. */
  async function send(message: string | Buffer): Promise<Record<string, any>> {
    const count = replies.length;
    await controller.publishAsync(COMMANDS, message, { qos: 1 });
    const deadline = Date.now() + 60_000;
    while (replies.length === count) {
      if (Date.now() > deadline) throw new Error("no reply within 60 s");
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(replies.length, count + 1, "one reply per command");
    return replies[count]!;
  }

  it("runs signed commands through the admin operations and publishes each result", async () => {
    const swap = command("swap", { model: "demo", parallel: 2 });
    const swapped = await send(signed(swap));
    assert.equal(swapped.status, "ok", JSON.stringify(swapped));
    assert.equal(swapped.id, swap.id);
    assert.equal(swapped.op, "swap");
    assert.equal(swapped.gateway, GATEWAY);
    assert.match(swapped.result.to, /parallel 2/);
    assert.equal(fixture.gateway.status("demo").parallel, 2);

    const precision = await send(signed(command("swap", { model: "demo", to: "q4_0" })));
    assert.equal(precision.status, "failed");
    assert.equal(precision.error.code, "model_not_found");
    assert.match(precision.error.message, /no stored Q4_0 variant/);

    const runnersBefore = fixture.gateway.status("demo").runners.map((r) => r.id);
    const reloaded = await send(signed(command("reload", { model: "demo" })));
    assert.equal(reloaded.status, "ok", JSON.stringify(reloaded));
    // The old runners drain and stop; new ones serve.
    await waitFor(() => fixture.gateway.status("demo").runners.every((r) => !runnersBefore.includes(r.id)), 20_000, "the old runners to stop");
    const runnersAfter = fixture.gateway.status("demo").runners.map((r) => r.id);
    assert.equal(runnersAfter.length, runnersBefore.length, "as many runners as before");
    assert.equal(fixture.gateway.status("demo").parallel, 2, "reload keeps the settings");

    const checked = await send(signed(command("rollout.check", {})));
    assert.deepEqual({ status: checked.status, result: checked.result }, { status: "ok", result: { checks: [] } });
    const notFollowing = await send(signed(command("rollout.check", { model: "demo" })));
    assert.equal(notFollowing.status, "failed");
    assert.match(notFollowing.error.message, /follows no registry tag/);

    const models = await send(signed(command("models", {}), viewer.privateKey, "viewer"));
    assert.equal(models.status, "ok");
    assert.deepEqual(models.result.models.map((m: { name: string }) => m.name), ["demo"]);
  });

  it("refuses unsigned, wrongly signed, tampered, replayed, stale, misaddressed, unpermitted and malformed commands, and counts them", async () => {
    const change = { model: "demo", parallel: 3 };
    const refusals: Array<[string, string | Buffer]> = [];
    refusals.push(["unsigned", JSON.stringify({ command: command("swap", change) })]);
    refusals.push(["bad_signature", signed(command("swap", change), stranger.privateKey)]);
    const tampered = JSON.parse(signed(command("swap", { model: "demo", parallel: 1 })));
    tampered.command.args.parallel = 3;
    refusals.push(["bad_signature", JSON.stringify(tampered)]);
    refusals.push(["unknown_key", signed(command("swap", change), stranger.privateKey, "stranger")]);
    refusals.push(["stale", signed(command("swap", change, { issued_at: new Date(Date.now() - 5 * 60_000).toISOString() }))]);
    refusals.push(["stale", signed(command("swap", change, { issued_at: new Date(Date.now() + 60_000).toISOString() }))]);
    refusals.push(["wrong_gateway", signed(command("swap", change, { gateway: "cam-8" }))]);
    refusals.push(["op_not_allowed", signed(command("swap", change), viewer.privateKey, "viewer")]);
    refusals.push(["malformed", "not json {"]);
    refusals.push(["malformed", signed(command("format-disk", {}))]);
    refusals.push(["malformed", signed({ ...command("swap", change), extra: true })]);
    refusals.push(["too_large", Buffer.alloc(20_000, 0x20)]);
    for (const [reason, message] of refusals) {
      const reply = await send(message);
      assert.equal(reply.status, "refused", `${reason}: ${JSON.stringify(reply)}`);
      assert.equal(reply.reason, reason, reply.message);
    }

    // A command taken once is refused when it comes again, word for word.
    const once = signed(command("swap", { model: "demo", parallel: 1 }));
    assert.equal((await send(once)).status, "ok");
    const replay = await send(once);
    assert.deepEqual([replay.status, replay.reason], ["refused", "replayed"]);
    assert.equal(fixture.gateway.status("demo").parallel, 1, "no refused command changed the model");

    const metrics = (await get(`${fixture.url}/metrics`)).text;
    const refused = (reason: string) => sampleValue(metrics, `edgelm_commands_refused_total{reason="${reason}"}`);
    assert.deepEqual(
      ["unsigned", "bad_signature", "unknown_key", "stale", "wrong_gateway", "op_not_allowed", "malformed", "too_large", "replayed"].map(refused),
      [1, 2, 1, 2, 1, 1, 3, 1, 1],
    );
    assert.equal(sampleValue(metrics, 'edgelm_commands_total{op="swap",result="ok"}'), 2);
    assert.equal(sampleValue(metrics, 'edgelm_commands_total{op="swap",result="failed"}'), 1);
    assert.equal(sampleValue(metrics, 'edgelm_commands_total{op="reload",result="ok"}'), 1);
  });
});

describe("CommandReplayGuard", () => {
  it("remembers taken ids across a restart until they would be stale anyway", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-guard-"));
    try {
      const file = join(dir, "seen.json");
      const guard = new CommandReplayGuard(file, 60_000);
      await guard.record("cmd-1", 1_000, 1_000);
      assert.equal(guard.has("cmd-1", 2_000), true);
      const again = new CommandReplayGuard(file, 60_000);
      assert.equal(again.has("cmd-1", 2_000), true, "after a restart");
      assert.equal(again.has("cmd-1", 61_001), false, "forgotten once stale");
      assert.equal(again.has("cmd-2", 2_000), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("router.events.commands config", () => {
  const pem = operator.publicKey.export({ format: "pem", type: "spki" }).toString();
  const mqttSink = { type: "mqtt", url: "mqtt://127.0.0.1:1883" };
  function error(events: unknown): string {
    const { home, cleanup } = tempHome();
    try {
      loadConfig({ flags: { router: { events } } as ConfigInput, env: { EDGELM_HOME: home }, cwd: home });
      return "";
    } catch (e) {
      assert.ok(isEdgeError(e) && e.code === "invalid_config", String(e));
      return e.message;
    } finally {
      cleanup();
    }
  }

  it("takes PEM and raw base64 keys on the one MQTT sink", () => {
    assert.equal(error({ sinks: [mqttSink], commands: { keys: [{ id: "a", public_key: pem }, { id: "b", public_key: rawPublicKey(viewer.publicKey) }] } }), "");
  });

  it("names a missing or ambiguous sink, a key that is no Ed25519 key, and duplicate key ids", () => {
    assert.match(error({ url: "http://127.0.0.1:1/v1/events", commands: { keys: [{ id: "a", public_key: pem }] } }), /router\.events\.commands\.sink.*add an mqtt entry/s);
    assert.match(error({ sinks: [mqttSink, { ...mqttSink, name: "b" }], commands: { keys: [{ id: "a", public_key: pem }] } }), /several MQTT sinks \(mqtt, b\)/);
    assert.match(error({ sinks: [mqttSink], commands: { sink: "nope", keys: [{ id: "a", public_key: pem }] } }), /no MQTT sink is named "nope"/);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "pem", type: "spki" }).toString();
    assert.match(error({ sinks: [mqttSink], commands: { keys: [{ id: "a", public_key: ec }] } }), /router\.events\.commands\.keys\.0\.public_key.*a ec key; commands are signed with Ed25519/s);
    assert.match(error({ sinks: [mqttSink], commands: { keys: [{ id: "a", public_key: "AAAA" }] } }), /raw Ed25519 key has 32 bytes/);
    assert.match(error({ sinks: [mqttSink], commands: { keys: [{ id: "a" }] } }), /public_key or public_key_file/);
    assert.match(error({ sinks: [mqttSink], commands: { keys: [{ id: "a", public_key: pem }, { id: "a", public_key: pem }] } }), /keys\.1\.id.*already named "a"/s);
    assert.match(error({ sinks: [mqttSink], commands: { keys: [] } }), /router\.events\.commands\.keys/);
  });
});
