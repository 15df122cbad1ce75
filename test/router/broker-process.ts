/** A broker binary (mosquitto, nats-server) run by a test: started until its port accepts, stopped with SIGTERM. */
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";

export interface BrokerProcess {
  /** Starts the binary and resolves once 127.0.0.1:port accepts connections (10 s at most). */
  start(): Promise<void>;
  /** SIGTERM (brokers save their state then) and wait for the exit; nothing when not running. */
  stop(): Promise<void>;
}

export function brokerProcess(command: string, args: string[], port: number): BrokerProcess {
  let child: ChildProcess | undefined;
  return {
    async start() {
      child = spawn(command, args, { stdio: "ignore" });
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
        if (Date.now() > deadline) throw new Error(`${command} did not start listening on ${port}`);
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
  };
}
