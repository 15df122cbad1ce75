import { z } from "zod";
import { commandsSection } from "./router-commands.js";
import { emitRuleSchema } from "./router-emit.js";

const SINK_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const sinkName = z.string().regex(SINK_NAME, "1-64 of a-z, 0-9, - and _ (names the sink's cursor file and metrics label)");

/** One HTTP receiver: each event is POSTed with `Idempotency-Key: <event id>`. */
const httpSink = z
  .object({
    type: z.literal("http"),
    /** Default: the type ("http"). Distinct per sink. */
    name: sinkName.optional(),
    url: z.string().url(),
    api_key: z.string().min(1).optional(),
    /** Milliseconds per delivery attempt. */
    timeout_ms: z.number().int().min(100).default(10_000),
  })
  .strict();

/** Files of PEM certificates and keys for TLS (paths on this device). */
const tlsFiles = {
  /** CA certificate(s) to trust for the broker (default: the system's). */
  ca_file: z.string().min(1).optional(),
  /** Client certificate and its key, for brokers that authenticate clients by certificate. */
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
};

/** An MQTT broker (3.1.1 or 5): QoS 1, persistent session, one topic per event from a template. */
const mqttSink = z
  .object({
    type: z.literal("mqtt"),
    name: sinkName.optional(),
    /** mqtt://host:1883 or mqtts://host:8883 (TLS). */
    url: z.string().url().refine((u) => /^mqtts?:\/\//.test(u), "an mqtt:// or mqtts:// URL"),
    /** `{gateway}`, `{source}` (the event's `source` field) and `{type}` (its `type` field) are filled in. */
    topic: z.string().min(1).refine((t) => !/[+#]/.test(t), "no MQTT wildcards (+, #) in a topic to publish to").default("edgelm/{gateway}/{source}/{type}"),
    /** 4 = MQTT 3.1.1, 5 = MQTT 5 (the event id also rides as user property `event-id`). */
    protocol_version: z.union([z.literal(4), z.literal(5)]).default(5),
    /** The persistent session's client id (default edgelm-<gateway>-<name>). */
    client_id: z.string().min(1).max(256).optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    ...tlsFiles,
    /** Milliseconds to wait for a batch's PUBACKs (and to connect). */
    timeout_ms: z.number().int().min(100).default(10_000),
  })
  .strict()
  .refine((s) => (s.cert_file === undefined) === (s.key_file === undefined), { message: "cert_file and key_file go together", path: ["cert_file"] });

/** NATS JetStream: each event published with Nats-Msg-Id = its id and acknowledged by the stream. */
const natsSink = z
  .object({
    type: z.literal("nats"),
    name: sinkName.optional(),
    /** nats:// or tls:// URLs of the cluster. */
    servers: z.array(z.string().regex(/^(nats|tls):\/\/[^\s]+$/, "a nats:// or tls:// URL")).min(1),
    /** `{gateway}`, `{source}`, `{type}` are filled in (tokens: no dots or wildcards). */
    subject: z.string().min(1).refine((t) => !/[*>\s]/.test(t), "no NATS wildcards (*, >) or spaces in a subject to publish to").default("edgelm.{gateway}.{source}.{type}"),
    /** The stream the subject must be bound to (checked by the server on every publish). */
    stream: z.string().regex(/^[^.*>\s/\\]+$/, "a JetStream stream name").optional(),
    /** A .creds file (JWT + NKey seed) or a file with an NKey seed. */
    creds_file: z.string().min(1).optional(),
    nkey_seed_file: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    ...tlsFiles,
    /** Milliseconds to wait for a batch's PubAcks (and to connect). */
    timeout_ms: z.number().int().min(100).default(10_000),
  })
  .strict()
  .refine((s) => !(s.creds_file && s.nkey_seed_file), { message: "creds_file or nkey_seed_file, not both", path: ["creds_file"] })
  .refine((s) => (s.cert_file === undefined) === (s.key_file === undefined), { message: "cert_file and key_file go together", path: ["cert_file"] });

export const eventSinkSchema = z.discriminatedUnion("type", [httpSink, mqttSink, natsSink]);

/**
 * `router.events`: the durable outbox behind POST /v1/events (under EDGELM_HOME/outbox).
 * `url` (+ `api_key`, `timeout_ms`) is shorthand for one HTTP sink named "http".
 */
export const eventsSection = z
  .object({
    url: z.string().url().optional(),
    api_key: z.string().min(1).optional(),
    timeout_ms: z.number().int().min(100).default(10_000),
    /** Where events go, each with its own cursor (a slow sink does not hold the others back). */
    sinks: z.array(eventSinkSchema).default([]),
    /** Most journal bytes on disk (undelivered events plus at most one segment); past it POST /v1/events answers 507. 256 MiB. */
    max_backlog_bytes: z.number().int().min(64 * 1024).default(256 * 1024 * 1024),
    /** Most events not yet delivered by the slowest sink; past it POST /v1/events answers 507. */
    max_backlog_events: z.number().int().min(1).default(1_000_000),
    /** Names this gateway in MQTT topics (`{gateway}`) and client ids. Default the host name. */
    gateway_id: z.string().min(1).max(128).optional(),
    /** Most events handed to a sink in one batch (one cursor fsync per batch). */
    batch_events: z.number().int().min(1).max(10_000).default(500),
    /** Events from local answers: rules that publish a compact event when an answer matches (see router-emit.ts). */
    emit: z.array(emitRuleSchema).default([]),
    /** Signed admin commands received over an MQTT sink's broker (see router-commands.ts). */
    commands: commandsSection.optional(),
  })
  .strict()
  .superRefine((events, ctx) => {
    if (events.url === undefined && events.sinks.length === 0) {
      ctx.addIssue({ code: "custom", message: "set router.events.url or at least one entry in router.events.sinks", path: ["sinks"] });
    }
    const names = new Set<string>(events.url !== undefined ? ["http"] : []);
    events.sinks.forEach((sink, i) => {
      const name = sink.name ?? sink.type;
      if (names.has(name)) ctx.addIssue({ code: "custom", message: `another sink is already named "${name}": give each sink a distinct name`, path: ["sinks", i, "name"] });
      names.add(name);
    });
    const rules = new Set<string>();
    events.emit.forEach((rule, i) => {
      if (rules.has(rule.name)) ctx.addIssue({ code: "custom", message: `another emit rule is already named "${rule.name}": give each rule a distinct name`, path: ["emit", i, "name"] });
      rules.add(rule.name);
    });
    if (events.commands) {
      const mqttSinks = events.sinks.filter((s) => s.type === "mqtt").map((s) => s.name ?? s.type);
      const wanted = events.commands.sink;
      if (wanted === undefined && mqttSinks.length !== 1) {
        ctx.addIssue({ code: "custom", message: mqttSinks.length === 0 ? "commands arrive over an MQTT broker: add an mqtt entry to router.events.sinks" : `several MQTT sinks (${mqttSinks.join(", ")}): name the one commands arrive on`, path: ["commands", "sink"] });
      } else if (wanted !== undefined && !mqttSinks.includes(wanted)) {
        ctx.addIssue({ code: "custom", message: `no MQTT sink is named "${wanted}" (MQTT sinks: ${mqttSinks.join(", ") || "none"})`, path: ["commands", "sink"] });
      }
    }
  });

export type EventsConfig = z.infer<typeof eventsSection>;
export type EventSinkConfig = z.infer<typeof eventSinkSchema>;
