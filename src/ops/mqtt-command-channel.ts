/**
 * Admin commands sent down over MQTT (router.events.commands): subscribes to
 * the command topic on an MQTT sink's broker (QoS 1, a persistent session),
 * verifies each message (signed-command.ts: Ed25519 by a configured key, fresh,
 * for this gateway, never seen before), runs it through the admin API
 * (command-operations.ts) one at a time, and publishes the result — or why it
 * was refused — to the reply topic. Counted by op and result, and refusals by
 * reason (command-metrics.ts).
 */
import { readFileSync } from "node:fs";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { CommandOp } from "../config/sections/router-commands.js";
import { toEdgeError } from "../errors.js";
import { logger } from "../log.js";
import type { CommandRunner } from "./command-operations.js";
import { CommandReplayGuard } from "./command-replay-guard.js";
import { CommandRefused, verifyCommand, type CommandKey, type CommandRefusal, type SignedCommand } from "./signed-command.js";

export interface MqttCommandChannelOptions {
  /** mqtt:// or mqtts:// URL of the broker. */
  url: string;
  protocolVersion?: 4 | 5;
  username?: string;
  password?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Names this gateway in topics and in the commands it takes. */
  gatewayId: string;
  /** Topic templates; `{gateway}` is filled in. */
  topic: string;
  replyTopic: string;
  keys: CommandKey[];
  maxAgeMs: number;
  maxSkewMs: number;
  maxBytes: number;
  /** Where the ids of commands taken are kept (replays are refused across restarts). */
  seenFile: string;
  run: CommandRunner;
  /** Milliseconds to wait for the broker at start (the channel keeps trying after). Default 10000. */
  timeoutMs?: number;
  /** The clock commands are judged by. Default: now. */
  now?: () => Date;
}

/** Counts for metrics: commands run (by op and result) and refused (by reason). */
export interface CommandStats {
  ran: Array<{ op: CommandOp; result: "ok" | "failed"; count: number }>;
  refused: Array<{ reason: CommandRefusal; count: number }>;
}

/** A topic level from the gateway id: no wildcards or separators. */
function topicLevel(value: string): string {
  return value.replace(/[+#/\u0000]/g, "_").slice(0, 128) || "gateway";
}

export class MqttCommandChannel {
  private client: MqttClient | undefined;
  private readonly guard: CommandReplayGuard;
  private readonly topic: string;
  private readonly replyTopic: string;
  private queue: Promise<void> = Promise.resolve();
  private readonly ran = new Map<string, number>();
  private readonly refused = new Map<CommandRefusal, number>();
  private subscribed: Promise<void> | undefined;

  constructor(private readonly options: MqttCommandChannelOptions) {
    const level = topicLevel(options.gatewayId);
    this.topic = options.topic.replaceAll("{gateway}", level);
    this.replyTopic = options.replyTopic.replaceAll("{gateway}", level);
    this.guard = new CommandReplayGuard(options.seenFile, options.maxAgeMs + options.maxSkewMs);
  }

  /** Connects and subscribes; resolves once subscribed, or after timeoutMs with a warning (it keeps trying). */
  async start(): Promise<void> {
    if (this.client) return;
    const o = this.options;
    const clientOptions: IClientOptions = {
      protocolVersion: o.protocolVersion ?? 5,
      clientId: `edgelm-${topicLevel(o.gatewayId)}-commands`,
      clean: false,
      reconnectPeriod: 1000,
      connectTimeout: o.timeoutMs ?? 10_000,
      // A command queued longer than it stays fresh would be refused anyway.
      ...(o.protocolVersion === 4 ? {} : { properties: { sessionExpiryInterval: Math.ceil((o.maxAgeMs + o.maxSkewMs) / 1000) } }),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.caFile ? { ca: readFileSync(o.caFile) } : {}),
      ...(o.certFile ? { cert: readFileSync(o.certFile) } : {}),
      ...(o.keyFile ? { key: readFileSync(o.keyFile) } : {}),
    };
    const client = mqtt.connect(o.url, clientOptions);
    this.client = client;
    client.on("error", (error) => logger.debug(`commands: MQTT ${o.url}: ${error.message}`));
    client.on("message", (topic, payload) => {
      if (topic === this.replyTopic) return;
      this.receive(payload);
    });
    this.subscribed = new Promise<void>((resolve) => {
      client.on("connect", (packet) => {
        // A resumed session keeps its subscription; a new one needs it.
        if (packet.sessionPresent) return resolve();
        client.subscribe(this.topic, { qos: 1 }, (error) => {
          if (error) logger.warn(`commands: cannot subscribe to ${this.topic}: ${error.message}`);
          else resolve();
        });
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), o.timeoutMs ?? 10_000)));
    const first = await Promise.race([this.subscribed, timeout]);
    clearTimeout(timer);
    if (first === "timeout") logger.warn(`commands: MQTT broker ${o.url} not reachable yet; still trying (commands on ${this.topic})`);
    else logger.info(`commands: listening on ${this.topic}, replies on ${this.replyTopic}`);
  }

  /** Resolves once the subscription is in place. */
  whenSubscribed(): Promise<void> {
    return this.subscribed ?? Promise.reject(new Error("the command channel is not started"));
  }

  /** Waits for the command running now, then disconnects. */
  async close(): Promise<void> {
    const client = this.client;
    if (!client) return;
    await this.queue.catch(() => {});
    await client.endAsync().catch(() => {});
    this.client = undefined;
  }

  stats(): CommandStats {
    return {
      ran: [...this.ran].map(([key, count]) => {
        const [op, result] = key.split(" ") as [CommandOp, "ok" | "failed"];
        return { op, result, count };
      }),
      refused: [...this.refused].map(([reason, count]) => ({ reason, count })),
    };
  }

  private receive(payload: Buffer): void {
    const now = this.options.now?.() ?? new Date();
    let command: SignedCommand;
    try {
      command = verifyCommand(payload, {
        keys: this.options.keys,
        gatewayId: this.options.gatewayId,
        maxAgeMs: this.options.maxAgeMs,
        maxSkewMs: this.options.maxSkewMs,
        maxBytes: this.options.maxBytes,
        now,
      });
      if (this.guard.has(command.id, now.getTime())) throw new CommandRefused("replayed", `command ${command.id} was taken before; send each command once, with a new id`, command.id);
    } catch (error) {
      const refusal = error instanceof CommandRefused ? error : new CommandRefused("malformed", (error as Error).message);
      this.refused.set(refusal.reason, (this.refused.get(refusal.reason) ?? 0) + 1);
      logger.warn(`commands: refused${refusal.commandId ? ` ${refusal.commandId}` : ""} (${refusal.reason}): ${refusal.message}`);
      this.reply({ ...(refusal.commandId ? { id: refusal.commandId } : {}), status: "refused", reason: refusal.reason, message: refusal.message });
      return;
    }
    // Taken now (in memory at once, so a copy arriving meanwhile is a replay); on disk before it runs.
    const recorded = this.guard.record(command.id, command.issuedAt.getTime(), now.getTime());
    this.queue = this.queue.then(() => this.run(command, recorded));
  }

  private async run(command: SignedCommand, recorded: Promise<void>): Promise<void> {
    const started = performance.now();
    const base = { id: command.id, op: command.op, key: command.key };
    try {
      await recorded;
      logger.info(`commands: ${command.op} ${JSON.stringify(command.args).slice(0, 200)} (${command.id}, key ${command.key})`, { kind: "admin_action" });
      const result = await this.options.run(command.op, command.args);
      this.count(command.op, "ok");
      this.reply({ ...base, status: "ok", result, duration_ms: Math.round(performance.now() - started) });
    } catch (caught) {
      const error = toEdgeError(caught);
      this.count(command.op, "failed");
      logger.warn(`commands: ${command.op} (${command.id}) failed: ${error.message}`);
      this.reply({ ...base, status: "failed", error: { code: error.code, message: error.message, ...(error.param ? { param: error.param } : {}) }, duration_ms: Math.round(performance.now() - started) });
    }
  }

  private count(op: CommandOp, result: "ok" | "failed"): void {
    const key = `${op} ${result}`;
    this.ran.set(key, (this.ran.get(key) ?? 0) + 1);
  }

  private reply(body: Record<string, unknown>): void {
    const message = JSON.stringify({ gateway: this.options.gatewayId, at: new Date().toISOString(), ...body });
    this.client?.publish(this.replyTopic, message, { qos: 1 }, (error) => {
      if (error) logger.warn(`commands: reply not published to ${this.replyTopic}: ${error.message}`);
    });
  }
}
