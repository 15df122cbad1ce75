/**
 * Publishes outbox records to an MQTT broker (3.1.1 or 5, the `mqtt` client):
 * QoS 1, a persistent session (clean start false), a topic per event from a
 * template, TLS with client certificates, username/password; under MQTT 5 the
 * event id travels as the user property `event-id` as well as in the payload.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { EdgeError } from "../errors.js";
import { eventEnvelope, type DeliveryResult, type EventSink } from "./event-sink.js";
import type { OutboxRecord } from "./outbox.js";

export interface MqttEventSinkOptions {
  /** Sink name (cursor file, metrics label). Default "mqtt". */
  name?: string;
  /** Broker URL: mqtt://host:1883 or mqtts://host:8883. */
  url: string;
  /**
   * Topic template: `{gateway}` (gatewayId), `{source}` (the event's string
   * `source` field, else "unknown") and `{type}` (its `type` field, else "event").
   * Default "edgelm/{gateway}/{source}/{type}".
   */
  topic?: string;
  /** 4 (MQTT 3.1.1) or 5. Default 5. */
  protocolVersion?: 4 | 5;
  /** Client id of the persistent session. Default "edgelm-<gateway>-<name>". */
  clientId?: string;
  /** Names this gateway in topics. Default the host name. */
  gatewayId?: string;
  username?: string;
  password?: string;
  /** PEM files: CA to trust, client certificate and key (TLS client auth). */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Milliseconds to wait for a batch's acknowledgements. Default 10000. */
  timeoutMs?: number;
  /** Milliseconds between reconnect attempts. Default 1000. */
  reconnectMs?: number;
}

/** A topic level from an event field: no wildcards, separators or empties. */
function topicLevel(value: unknown, fallback: string): string {
  if (typeof value !== "string" || value.length === 0) return fallback;
  return value.replace(/[+#/\u0000]/g, "_").slice(0, 128);
}

export class MqttEventSink implements EventSink {
  readonly name: string;
  private readonly client: MqttClient;
  private readonly template: string;
  private readonly gatewayId: string;
  private lastError: Error | undefined;

  constructor(private readonly options: MqttEventSinkOptions) {
    this.name = options.name ?? "mqtt";
    this.gatewayId = topicLevel(options.gatewayId ?? hostname(), "gateway");
    this.template = options.topic ?? "edgelm/{gateway}/{source}/{type}";
    const clientOptions: IClientOptions = {
      protocolVersion: options.protocolVersion ?? 5,
      clientId: options.clientId ?? `edgelm-${this.gatewayId}-${this.name}`,
      clean: false,
      reconnectPeriod: options.reconnectMs ?? 1000,
      connectTimeout: options.timeoutMs ?? 10_000,
      ...(options.protocolVersion === 4 ? {} : { properties: { sessionExpiryInterval: 0xffffffff } }),
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.caFile ? { ca: readFileSync(options.caFile) } : {}),
      ...(options.certFile ? { cert: readFileSync(options.certFile) } : {}),
      ...(options.keyFile ? { key: readFileSync(options.keyFile) } : {}),
    };
    this.client = mqtt.connect(options.url, clientOptions);
    this.client.on("error", (error) => (this.lastError = error));
    this.client.on("connect", () => (this.lastError = undefined));
  }

  /** The topic of one record, from the template. */
  topicOf(record: OutboxRecord): string {
    const body = (record.body ?? {}) as Record<string, unknown>;
    return this.template
      .replaceAll("{gateway}", this.gatewayId)
      .replaceAll("{source}", topicLevel(body.source, "unknown"))
      .replaceAll("{type}", topicLevel(body.type, "event"));
  }

  /** Publishes the batch at QoS 1 (all in flight on one connection, so in order) and acknowledges the prefix whose PUBACKs arrived. */
  async deliver(records: OutboxRecord[], signal: AbortSignal, progress: (delivered: number) => void): Promise<DeliveryResult> {
    if (!this.client.connected) {
      return { delivered: 0, error: new EdgeError("upstream_unavailable", `MQTT broker ${this.options.url} not connected${this.lastError ? `: ${this.lastError.message}` : ""}`) };
    }
    const acked = new Array<boolean>(records.length).fill(false);
    let prefix = 0;
    return new Promise<DeliveryResult>((resolve) => {
      let settled = false;
      const finish = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.client.removeListener("close", onClose);
        resolve(error === undefined ? { delivered: prefix } : { delivered: prefix, error });
      };
      const onAbort = (): void => finish(new EdgeError("aborted", "the outbox is stopping"));
      const onClose = (): void => finish(new EdgeError("upstream_unavailable", `MQTT connection to ${this.options.url} closed`));
      const timer = setTimeout(() => finish(new EdgeError("timeout", `MQTT broker did not acknowledge within ${this.options.timeoutMs ?? 10_000} ms`)), this.options.timeoutMs ?? 10_000);
      signal.addEventListener("abort", onAbort, { once: true });
      this.client.once("close", onClose);
      records.forEach((record, i) => {
        const properties = (this.options.protocolVersion ?? 5) === 5 ? { properties: { userProperties: { "event-id": record.id }, contentType: "application/json" } } : {};
        this.client.publish(this.topicOf(record), JSON.stringify(eventEnvelope(record)), { qos: 1, ...properties }, (error) => {
          if (settled) return; // a late PUBACK: the outbox already took this batch's result
          if (error) return finish(error);
          acked[i] = true;
          while (prefix < records.length && acked[prefix]) prefix++;
          progress(prefix);
          if (prefix === records.length) finish();
        });
      });
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true).catch(() => {});
  }
}
