/** Builds the MQTT command channel `router.events.commands` describes (not started). */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import { ed25519PublicKey } from "../trust/ed25519-key.js";
import type { FastifyInstance } from "fastify";
import { adminCommandRunner } from "./command-operations.js";
import { MqttCommandChannel } from "./mqtt-command-channel.js";
import type { CommandKey } from "./signed-command.js";

/** The channel for `config` (undefined without router.events.commands); commands run on `app`'s admin routes. */
export function commandChannelFromConfig(config: Config, app: FastifyInstance): MqttCommandChannel | undefined {
  const events = config.router.events;
  const commands = events?.commands;
  if (!events || !commands) return undefined;
  const sink = events.sinks.find((s) => s.type === "mqtt" && (commands.sink === undefined || (s.name ?? s.type) === commands.sink));
  if (!sink || sink.type !== "mqtt") throw new EdgeError("invalid_config", "router.events.commands: no MQTT sink to receive commands on", { param: "router.events.commands.sink" });
  const keys: CommandKey[] = commands.keys.map((k, i) => {
    const what = `router.events.commands.keys.${i}`;
    let text = k.public_key;
    if (text === undefined) {
      try {
        text = readFileSync(k.public_key_file!, "utf8");
      } catch (error) {
        throw new EdgeError("invalid_config", `${what}.public_key_file: cannot read ${k.public_key_file}: ${(error as Error).message}`, { param: `${what}.public_key_file` });
      }
    }
    return { id: k.id, key: ed25519PublicKey(text, `${what}.public_key${k.public_key === undefined ? "_file" : ""}`), ...(k.ops ? { ops: k.ops } : {}) };
  });
  const key = config.server.admin_keys[0] ?? config.server.api_keys[0];
  return new MqttCommandChannel({
    url: sink.url,
    protocolVersion: sink.protocol_version,
    ...(sink.username !== undefined ? { username: sink.username } : {}),
    ...(sink.password !== undefined ? { password: sink.password } : {}),
    ...(sink.ca_file !== undefined ? { caFile: sink.ca_file } : {}),
    ...(sink.cert_file !== undefined ? { certFile: sink.cert_file } : {}),
    ...(sink.key_file !== undefined ? { keyFile: sink.key_file } : {}),
    gatewayId: events.gateway_id ?? hostname(),
    topic: commands.topic,
    replyTopic: commands.reply_topic,
    keys,
    maxAgeMs: commands.max_age_s * 1000,
    maxSkewMs: commands.max_skew_s * 1000,
    maxBytes: commands.max_bytes,
    seenFile: join(config.home, "commands", "seen.json"),
    run: adminCommandRunner(app, key !== undefined ? `Bearer ${key}` : undefined),
    timeoutMs: sink.timeout_ms,
  });
}
