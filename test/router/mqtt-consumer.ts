/**
 * The cloud side of the MQTT sink for tests: a persistent-session subscriber
 * (QoS 1) that deduplicates by event id, as docs/events.md asks consumers to.
 */
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

export interface DedupConsumer {
  client: MqttClient;
  /** Event ids in the order first received. */
  ids: string[];
  /** First-received envelopes, by topic. */
  topics: Map<string, number>;
  /** Messages received, duplicates included. */
  messages(): number;
  /** Ids whose MQTT 5 user property `event-id` differed from the payload's id. */
  mismatched: string[];
  sources: Map<string, number[]>;
  close(): Promise<void>;
}

export async function startDedupConsumer(url: string, options: IClientOptions = {}): Promise<DedupConsumer> {
  const client = await mqtt.connectAsync(url, { clientId: "edgelm-test-consumer", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 200, ...options });
  const ids: string[] = [];
  const seen = new Set<string>();
  const topics = new Map<string, number>();
  const sources = new Map<string, number[]>();
  const mismatched: string[] = [];
  let messages = 0;
  client.on("message", (topic, payload, packet) => {
    messages++;
    const envelope = JSON.parse(payload.toString()) as { id: string; event: { source: string; n: number } };
    const property = packet.properties?.userProperties?.["event-id"];
    if (property !== undefined && property !== envelope.id) mismatched.push(envelope.id);
    if (seen.has(envelope.id)) return;
    seen.add(envelope.id);
    ids.push(envelope.id);
    topics.set(topic, (topics.get(topic) ?? 0) + 1);
    const list = sources.get(envelope.event.source) ?? [];
    list.push(envelope.event.n);
    sources.set(envelope.event.source, list);
  });
  await client.subscribeAsync("edgelm/#", { qos: 1 });
  return { client, ids, topics, sources, mismatched, messages: () => messages, close: () => client.endAsync(true) };
}
