/**
 * A federation on loopback for the federated-round tests and bench: a coordinator gateway and participant
 * gateways, each with its own EDGELM_HOME (store, Ed25519 key, training text), each reaching the coordinator
 * through a TCP proxy that records every byte the participant sends.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load-config.js";
import type { Config, ConfigInput } from "../../src/config/schema.js";
import { EdgeNode } from "../../src/edge-node.js";
import { openResolvedModel } from "../../src/engine/open-model.js";
import type { RoundStatus } from "../../src/federate/round-spec.js";
import { evaluateText } from "../../src/quality/evaluate-text.js";
import { ModelStore } from "../../src/store/model-store.js";
import { resolveModel } from "../../src/store/resolve-model.js";
import { ed25519PublicBase64 } from "../../src/trust/ed25519-key.js";
import { tempHome, TEST_MODEL } from "../helpers.js";
import { SHARD_BAKERY, SHARD_BOAT, SHARD_GARDEN } from "../adapt/training-stories.js";

export const FLEET_KEY = "fleet-key-0123456789";
export const ADMIN_KEY = "admin-key-0123456789";

/** One participant's data: its first two paragraphs train, the third is held out (never on the participant). */
export interface Shard {
  name: string;
  train: string;
  heldOut: string;
}

/**
 * More of the bakery story for its training part: its first two paragraphs are shorter than the others', too short
 * for llama.cpp's trainer to cut its contexts from (it aborts in ggml_opt_dataset_init below about 400 tokens).
 */
const BAKERY_MORE = `On Saturday the bakery was very busy. Anna put the warm buns on a big plate and her dad cut the bread. A girl with a red hat asked for a cake with pink flowers on top. Anna made the flowers with sugar and the girl clapped her hands. "It is too pretty to eat," she said. Dad laughed and gave her a small cookie too.`;

export function shards(): Shard[] {
  return [
    ["garden", SHARD_GARDEN, ""],
    ["boat", SHARD_BOAT, ""],
    ["bakery", SHARD_BAKERY, BAKERY_MORE],
  ].map(([name, text, more]) => {
    const paragraphs = text!.trim().split("\n");
    return { name: name!, train: [...paragraphs.slice(0, 2), ...(more ? [more] : [])].join("\n"), heldOut: paragraphs[2]! };
  });
}

/** A loopback TCP proxy to `target` that keeps every byte its clients send. */
export class RecordingProxy {
  private readonly chunks: Buffer[] = [];
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<RecordingProxy> {
    const { hostname, port } = new URL(target);
    let proxy: RecordingProxy | undefined;
    const server = createServer((client) => {
      const upstream = createConnection({ host: hostname, port: Number(port) });
      proxy!.sockets.add(client).add(upstream);
      client.on("data", (chunk: Buffer) => proxy!.chunks.push(Buffer.from(chunk)));
      client.pipe(upstream).pipe(client);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new RecordingProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  /** Everything sent so far, in order. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface Member {
  id: string;
  node: EdgeNode;
  config: Config;
  home: string;
  url: string;
  close(): Promise<void>;
}

/** An Ed25519 key pair: the private key's PEM and the public key's raw base64 (what a coordinator lists). */
export function ed25519Pair(): { privatePem: string; publicBase64: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { privatePem: privateKey.export({ type: "pkcs8", format: "pem" }) as string, publicBase64: ed25519PublicBase64(publicKey) };
}

async function startMember(id: string, flags: ConfigInput, setup: (home: string) => ConfigInput): Promise<Member> {
  const { home, cleanup } = tempHome();
  const extra = setup(home);
  const { config } = loadConfig({ flags: { ...flags, ...extra, server: { port: 0, ...flags.server, ...extra.server } }, env: { EDGELM_HOME: home } });
  await ModelStore.open(config).add(TEST_MODEL, { name: "stories:base" });
  const node = await EdgeNode.create(config, { models: [], ops: false });
  const url = await node.listen();
  let closed = false;
  return {
    id,
    node,
    config,
    home,
    url,
    close: async () => {
      if (closed) return;
      closed = true;
      await node.close({ graceMs: 0 });
      cleanup();
    },
  };
}

/** The coordinator: stories260K as stories:base in its store, `participants` trusted (id → public key); `store` merged into its config. */
export function startCoordinator(
  trainer: string,
  participants: Array<{ id: string; publicBase64: string }>,
  maxUpdateBytes = 2 * 1024 * 1024,
  store: ConfigInput["store"] = {},
): Promise<Member> {
  return startMember("coordinator", { engine: { trainer }, store }, () => ({
    server: {
      api_keys: [FLEET_KEY],
      admin_keys: [ADMIN_KEY],
      federated: { coordinator: { participants: participants.map((p) => ({ id: p.id, public_key: p.publicBase64 })), max_update_bytes: maxUpdateBytes } },
    },
  }));
}

/** A participant gateway joining `coordinatorUrl`'s rounds with its own key and text (written into its home). */
export function startParticipant(trainer: string, id: string, privatePem: string, text: string, coordinatorUrl: string): Promise<Member> {
  return startMember(id, { engine: { trainer } }, (home) => {
    mkdirSync(join(home, "data"), { recursive: true });
    writeFileSync(join(home, "key.pem"), privatePem, { mode: 0o600 });
    writeFileSync(join(home, "data", "notes.txt"), text);
    return {
      server: {
        federated: {
          participate: true,
          coordinator_url: coordinatorUrl,
          coordinator_key: FLEET_KEY,
          key: join(home, "key.pem"),
          key_id: id,
          text: join(home, "data"),
          poll_s: 0.2,
          threads: 1,
        },
      },
    };
  });
}

/** Calls the coordinator's API with `key`; returns the status and the JSON body. */
export async function api(url: string, path: string, init: { method?: string; body?: unknown; key?: string; raw?: Buffer; contentType?: string } = {}): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${path}`, {
    method: init.method ?? (init.body !== undefined || init.raw !== undefined ? "POST" : "GET"),
    headers: {
      authorization: `Bearer ${init.key ?? FLEET_KEY}`,
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
      ...(init.contentType ? { "content-type": init.contentType } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    ...(init.raw !== undefined ? { body: init.raw } : {}),
  });
  return { status: response.status, body: await response.json() };
}

/** Publishes a round (admin key) and returns its status. */
export async function publishRound(url: string, body: Record<string, unknown>): Promise<RoundStatus> {
  const r = await api(url, "/federated/rounds", { body, key: ADMIN_KEY });
  if (r.status !== 201) throw new Error(`publish: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as RoundStatus;
}

/** Polls a round until it is done or failed. */
export async function settledRound(url: string, id: string, timeoutMs = 90_000): Promise<RoundStatus> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api(url, `/federated/rounds/${id}`);
    if (body.state === "done" || body.state === "failed") return body as RoundStatus;
    if (Date.now() > until) throw new Error(`round ${id} still ${body.state}: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Perplexity of the model `ref` (a path or store name under `config`) on `text`, windows of 128 tokens. */
export async function perplexity(config: Config, ref: string, text: string): Promise<number> {
  const resolved = await resolveModel(ref, config, { allowDownload: false });
  const model = (await openResolvedModel(resolved, { ...config, engine: { ...config.engine, backend: "node-llama-cpp" } }, { parallel: 1, contextSize: 128, threads: { prompt: 1, decode: 1 } })).model;
  try {
    return (await evaluateText(model, text, { windowSize: 128 })).perplexity;
  } finally {
    await model.dispose();
  }
}

/** Every run of 8 consecutive words of `text` (split on white space). */
export function eightGrams(text: string): string[] {
  const words = text.split(/\s+/).filter((w) => w.length > 0);
  const out: string[] = [];
  for (let i = 0; i + 8 <= words.length; i++) out.push(words.slice(i, i + 8).join(" "));
  return out;
}
