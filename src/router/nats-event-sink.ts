/**
 * Publishes outbox records to NATS JetStream (the `nats` client): each with
 * `Nats-Msg-Id` = the event id, so the stream drops re-sends within its
 * duplicate window, and each acknowledged by the stream (PubAck) before the
 * outbox moves its cursor. Credentials files, NKey seeds, user/password and TLS.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { connect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from "nats";
import { EdgeError } from "../errors.js";
import { eventEnvelope, type DeliveryResult, type EventSink } from "./event-sink.js";
import type { OutboxRecord } from "./outbox.js";

export interface NatsEventSinkOptions {
  /** Sink name (cursor file, metrics label). Default "nats". */
  name?: string;
  /** Server URLs, e.g. ["nats://127.0.0.1:4222"] or tls://. */
  servers: string[];
  /** Subject template: `{gateway}`, `{source}`, `{type}` as for MQTT. Default "edgelm.{gateway}.{source}.{type}". */
  subject?: string;
  /** When set, the server checks that the subject is bound to this stream (else the publish fails). */
  stream?: string;
  /** Names this gateway in subjects. Default the host name. */
  gatewayId?: string;
  /** A `.creds` file (user JWT + NKey seed), or a file holding an NKey seed. */
  credsFile?: string;
  nkeySeedFile?: string;
  user?: string;
  password?: string;
  /** PEM files for TLS: CA to trust, client certificate and key. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Milliseconds to wait for a batch's PubAcks (and to connect). Default 10000. */
  timeoutMs?: number;
}

/** A subject token from an event field: no separators, wildcards or spaces. */
function subjectToken(value: unknown, fallback: string): string {
  if (typeof value !== "string" || value.length === 0) return fallback;
  return value.replace(/[.*>\s]/g, "_").slice(0, 128);
}

export class NatsEventSink implements EventSink {
  readonly name: string;
  private readonly template: string;
  private readonly gatewayId: string;
  private connection: Promise<NatsConnection> | undefined;
  private closed = false;

  constructor(private readonly options: NatsEventSinkOptions) {
    this.name = options.name ?? "nats";
    this.gatewayId = subjectToken(options.gatewayId ?? hostname(), "gateway");
    this.template = options.subject ?? "edgelm.{gateway}.{source}.{type}";
  }

  /** The subject of one record, from the template. */
  subjectOf(record: OutboxRecord): string {
    const body = (record.body ?? {}) as Record<string, unknown>;
    return this.template
      .replaceAll("{gateway}", this.gatewayId)
      .replaceAll("{source}", subjectToken(body.source, "unknown"))
      .replaceAll("{type}", subjectToken(body.type, "event"));
  }

  /** Publishes the batch (all in flight on one connection) and acknowledges the prefix whose PubAcks arrived. */
  async deliver(records: OutboxRecord[], signal: AbortSignal, progress: (delivered: number) => void): Promise<DeliveryResult> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    let connection: NatsConnection;
    try {
      connection = await this.connected(timeoutMs);
    } catch (error) {
      return { delivered: 0, error };
    }
    const js = connection.jetstream({ timeout: timeoutMs });
    const acked = new Array<boolean>(records.length).fill(false);
    let prefix = 0;
    let failure: unknown;
    await Promise.all(
      records.map(async (record, i) => {
        try {
          if (signal.aborted) throw new EdgeError("aborted", "the outbox is stopping");
          await js.publish(this.subjectOf(record), JSON.stringify(eventEnvelope(record)), {
            msgID: record.id,
            timeout: timeoutMs,
            ...(this.options.stream ? { expect: { streamName: this.options.stream } } : {}),
          });
          acked[i] = true;
          while (prefix < records.length && acked[prefix]) prefix++;
          if (failure === undefined) progress(prefix);
        } catch (error) {
          failure ??= error;
        }
      }),
    );
    return failure === undefined ? { delivered: prefix } : { delivered: prefix, error: new EdgeError("upstream_unavailable", `NATS JetStream: ${(failure as Error).message}`, { cause: failure }) };
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.connection;
    this.connection = undefined;
    await pending?.then((c) => c.close()).catch(() => {});
  }

  /** The connection, made on first use (reconnecting forever after that); a failed first connect is retried next time. */
  private connected(timeoutMs: number): Promise<NatsConnection> {
    if (this.closed) return Promise.reject(new EdgeError("aborted", "the NATS sink is closed"));
    if (!this.connection) {
      const made = connect(this.connectionOptions(timeoutMs));
      this.connection = made;
      made.catch(() => {
        if (this.connection === made) this.connection = undefined;
      });
    }
    return this.connection;
  }

  private connectionOptions(timeoutMs: number): ConnectionOptions {
    const o = this.options;
    const authenticator = o.credsFile
      ? credsAuthenticator(readFileSync(o.credsFile))
      : o.nkeySeedFile
        ? nkeyAuthenticator(new TextEncoder().encode(readFileSync(o.nkeySeedFile, "utf8").trim()))
        : undefined;
    const tls = o.caFile || o.certFile ? { ...(o.caFile ? { caFile: o.caFile } : {}), ...(o.certFile ? { certFile: o.certFile } : {}), ...(o.keyFile ? { keyFile: o.keyFile } : {}) } : undefined;
    return {
      servers: o.servers,
      name: `edgelm-${this.gatewayId}-${this.name}`,
      timeout: timeoutMs,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      ...(authenticator ? { authenticator } : {}),
      ...(o.user !== undefined ? { user: o.user } : {}),
      ...(o.password !== undefined ? { pass: o.password } : {}),
      ...(tls ? { tls } : {}),
    };
  }
}
