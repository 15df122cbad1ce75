/** Builds the outbox and its sinks from `router.events`. */
import type { EventsConfig, EventSinkConfig } from "../config/sections/router-events.js";
import type { EventSink } from "./event-sink.js";
import { HttpEventSink } from "./http-event-sink.js";
import { MqttEventSink } from "./mqtt-event-sink.js";
import { NatsEventSink } from "./nats-event-sink.js";
import { Outbox, type OutboxOptions } from "./outbox.js";

/** One sink for one entry of `router.events.sinks`; `gatewayId` names this gateway in MQTT topics. */
export function eventSinkFromConfig(sink: EventSinkConfig, gatewayId?: string): EventSink {
  switch (sink.type) {
    case "http":
      return new HttpEventSink({ name: sink.name ?? "http", url: sink.url, ...(sink.api_key ? { apiKey: sink.api_key } : {}), timeoutMs: sink.timeout_ms });
    case "mqtt":
      return new MqttEventSink({
        name: sink.name ?? "mqtt",
        url: sink.url,
        topic: sink.topic,
        protocolVersion: sink.protocol_version,
        timeoutMs: sink.timeout_ms,
        ...(gatewayId !== undefined ? { gatewayId } : {}),
        ...(sink.client_id !== undefined ? { clientId: sink.client_id } : {}),
        ...(sink.username !== undefined ? { username: sink.username } : {}),
        ...(sink.password !== undefined ? { password: sink.password } : {}),
        ...(sink.ca_file !== undefined ? { caFile: sink.ca_file } : {}),
        ...(sink.cert_file !== undefined ? { certFile: sink.cert_file } : {}),
        ...(sink.key_file !== undefined ? { keyFile: sink.key_file } : {}),
      });
    case "nats":
      return new NatsEventSink({
        name: sink.name ?? "nats",
        servers: sink.servers,
        subject: sink.subject,
        timeoutMs: sink.timeout_ms,
        ...(gatewayId !== undefined ? { gatewayId } : {}),
        ...(sink.stream !== undefined ? { stream: sink.stream } : {}),
        ...(sink.creds_file !== undefined ? { credsFile: sink.creds_file } : {}),
        ...(sink.nkey_seed_file !== undefined ? { nkeySeedFile: sink.nkey_seed_file } : {}),
        ...(sink.user !== undefined ? { user: sink.user } : {}),
        ...(sink.password !== undefined ? { password: sink.password } : {}),
        ...(sink.ca_file !== undefined ? { caFile: sink.ca_file } : {}),
        ...(sink.cert_file !== undefined ? { certFile: sink.cert_file } : {}),
        ...(sink.key_file !== undefined ? { keyFile: sink.key_file } : {}),
      });
  }
}

/**
 * The outbox under `dir` for `events`: the `url` shorthand (an HTTP sink named
 * "http") plus every entry of `sinks`, with the configured limits. Not started.
 */
export function outboxFromConfig(events: EventsConfig, dir: string, onAttempt?: OutboxOptions["onAttempt"]): Outbox {
  const sinks: EventSink[] = [];
  if (events.url !== undefined) sinks.push(eventSinkFromConfig({ type: "http", url: events.url, timeout_ms: events.timeout_ms, ...(events.api_key ? { api_key: events.api_key } : {}) }));
  for (const sink of events.sinks) sinks.push(eventSinkFromConfig(sink, events.gateway_id));
  return new Outbox({
    dir,
    sinks,
    maxBacklogBytes: events.max_backlog_bytes,
    maxBacklogEvents: events.max_backlog_events,
    batchEvents: events.batch_events,
    ...(onAttempt ? { onAttempt } : {}),
  });
}
