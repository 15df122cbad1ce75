/** Starts a real gateway on 127.0.0.1:0 with real runner processes, for integration tests. */
import { loadConfig } from "../../src/config/load-config.js";
import type { ConfigInput } from "../../src/config/schema.js";
import type { ServedModelSpec } from "../../src/scheduler/model-pool.js";
import { EdgeNode } from "../../src/edge-node.js";
import type { RequestEndEvent } from "../../src/scheduler/gateway-events.js";
import type { Gateway } from "../../src/server/gateway.js";
import { tempHome, TEST_MODEL } from "../helpers.js";

export interface GatewayFixture {
  /** The whole node (gateway + routing; no ops). */
  node: EdgeNode;
  gateway: Gateway;
  url: string;
  home: string;
  close(): Promise<void>;
}

/** stories260K as "stories" (one decode thread: the fastest on this model). */
export function storiesModel(overrides: Partial<ServedModelSpec> = {}): ServedModelSpec {
  return { name: "stories", ref: TEST_MODEL, parallel: 4, contextSize: 512, threads: { decode: 1, prompt: 1 }, ...overrides };
}

/** The built-in demo model as "demo". */
export function demoModel(overrides: Partial<ServedModelSpec> = {}): ServedModelSpec {
  return { name: "demo", ref: "demo", parallel: 4, threads: { decode: 1, prompt: 1 }, ...overrides };
}

export async function startGateway(
  options: {
    models?: ServedModelSpec[];
    server?: NonNullable<ConfigInput["server"]>;
    config?: ConfigInput;
    waitReady?: boolean;
    /** The clock the router's circuit breakers read (default Date.now). */
    now?: () => number;
  } = {},
): Promise<GatewayFixture> {
  const { home, cleanup } = tempHome();
  const { config } = loadConfig({
    flags: { ...options.config, server: { port: 0, restart_delay_ms: 50, ...options.server } },
    env: { EDGELM_HOME: home },
  });
  const node = await EdgeNode.create(config, { models: options.models ?? [storiesModel(), demoModel()], ops: false, ...(options.now ? { now: options.now } : {}) });
  const gateway = node.gateway;
  const url = await node.listen();
  if (options.waitReady !== false) await node.whenReady();
  return {
    node,
    gateway,
    url,
    home,
    close: async () => {
      await node.close({ graceMs: 0 });
      cleanup();
    },
  };
}

/** Resolves when `predicate` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The next request:end event of `route` on the fixture's gateway. */
export function endOf(fixture: GatewayFixture, route: string): Promise<RequestEndEvent> {
  return new Promise((resolve) => {
    const listener = (event: RequestEndEvent): void => {
      if (event.route !== route) return;
      fixture.gateway.events.off("request:end", listener);
      resolve(event);
    };
    fixture.gateway.events.on("request:end", listener);
  });
}
