/**
 * A real nats-server with JetStream (-js) for tests, on 127.0.0.1 with its own
 * config file and store directory; stop() ends it with SIGTERM and start()
 * brings it back on the same port and store.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../src/free-port.js";
import { brokerProcess } from "./broker-process.js";

export interface NatsJetStreamServer {
  port: number;
  url: string;
  dir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

/** `extra` is appended to the config file verbatim (authorization, tls blocks). */
export async function createNatsServer(extra = ""): Promise<NatsJetStreamServer> {
  const dir = mkdtempSync(join(tmpdir(), "edgelm-nats-"));
  const port = await freePort();
  writeFileSync(join(dir, "nats.conf"), [`host: 127.0.0.1`, `port: ${port}`, `jetstream { store_dir: "${dir}/store" }`, extra].join("\n") + "\n");
  const run = brokerProcess("nats-server", ["-js", "-c", join(dir, "nats.conf")], port);
  const server: NatsJetStreamServer = {
    port,
    url: `nats://127.0.0.1:${port}`,
    dir,
    start: run.start,
    stop: run.stop,
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
