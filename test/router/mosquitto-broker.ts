/**
 * A real Mosquitto broker for tests, on 127.0.0.1 with its own config file and
 * persistence directory; stop() ends it with SIGTERM (it saves its
 * persistence then) and start() brings it back on the same port and state.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../src/free-port.js";

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
  let child: ChildProcess | undefined;
  const broker: MosquittoBroker = {
    port,
    dir,
    async start() {
      child = spawn("mosquitto", ["-c", join(dir, "mosquitto.conf")], { stdio: ["ignore", "ignore", "inherit"] });
      const deadline = Date.now() + 10_000;
      for (;;) {
        const open = await new Promise<boolean>((resolve) => {
          const socket = connect(port, "127.0.0.1", () => {
            socket.destroy();
            resolve(true);
          });
          socket.once("error", () => resolve(false));
        });
        if (open) return;
        if (Date.now() > deadline) throw new Error("mosquitto did not start listening");
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((r) => running.once("exit", r));
      running.kill("SIGTERM");
      await exited;
    },
    async close() {
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return broker;
}
