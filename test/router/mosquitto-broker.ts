/**
 * A real Mosquitto broker for tests, on 127.0.0.1 with its own config file and
 * persistence directory; stop() ends it with SIGTERM (it saves its
 * persistence then) and start() brings it back on the same port and state.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../src/free-port.js";
import { brokerProcess } from "./broker-process.js";

export interface MosquittoBroker {
  port: number;
  dir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops the broker and removes its files. */
  close(): Promise<void>;
}

/** `listener` lines are added for the port; `extra` is appended to the config file verbatim. */
export async function createMosquitto(extra = ""): Promise<MosquittoBroker> {
  const dir = mkdtempSync(join(tmpdir(), "edgelm-mosquitto-"));
  const port = await freePort();
  writeFileSync(
    join(dir, "mosquitto.conf"),
    [
      `listener ${port} 127.0.0.1`,
      "persistence true",
      `persistence_location ${dir}/`,
      "max_queued_messages 0",
      "max_inflight_messages 0",
      "log_dest none",
      "user root",
      extra.includes("password_file") ? "allow_anonymous false" : "allow_anonymous true",
      extra,
    ].join("\n") + "\n",
  );
  const run = brokerProcess("mosquitto", ["-c", join(dir, "mosquitto.conf")], port);
  const broker: MosquittoBroker = {
    port,
    dir,
    start: run.start,
    stop: run.stop,
    async close() {
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return broker;
}
