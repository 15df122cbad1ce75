/** A real gateway on 127.0.0.1:0 with ops (metrics, policies, admin API) attached, for integration tests. */
import { loadConfig } from "../../src/config/load-config.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { GatewayOps, type GatewayOpsOptions } from "../../src/ops/gateway-ops.js";
import type { ServedModelSpec } from "../../src/scheduler/model-pool.js";
import { EdgeNode } from "../../src/edge-node.js";
import type { Gateway } from "../../src/server/gateway.js";
import { tempHome } from "../helpers.js";

export interface OpsFixture {
  /** The whole node (gateway, routing, ops). */
  node: EdgeNode;
  gateway: Gateway;
  ops: GatewayOps;
  url: string;
  home: string;
  close(): Promise<void>;
}

/** No rules unless a test gives some: this shared machine's real CPU must not trigger actions mid-test. */
const QUIET_POLICIES = { rules: [] };

export async function startOpsGateway(options: {
  models: ServedModelSpec[];
  config?: ConfigInput;
  ops?: GatewayOpsOptions;
  home?: string;
  /** Runs after attach, before listen (e.g. to force a signal). */
  prepare?: (ops: GatewayOps) => void;
}): Promise<OpsFixture> {
  const temp = options.home ? undefined : tempHome();
  const home = options.home ?? temp!.home;
  const input = options.config ?? {};
  const { config } = loadConfig({
    flags: {
      ...input,
      server: { port: 0, restart_delay_ms: 50, ...input.server },
      policies: { ...QUIET_POLICIES, ...input.policies },
    } as ConfigInput,
    env: { EDGELM_HOME: home },
  });
  const node = await EdgeNode.create(config, { models: options.models, ...(options.ops ? { ops: options.ops } : {}) });
  const gateway = node.gateway;
  const ops = node.ops!;
  options.prepare?.(ops);
  const url = await node.listen();
  await node.whenReady();
  return {
    node,
    gateway,
    ops,
    url,
    home,
    close: async () => {
      await node.close({ graceMs: 0 });
      temp?.cleanup();
    },
  };
}

/** GET `url` and return status and text. */
export async function get(url: string, apiKey?: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {});
  return { status: response.status, text: await response.text() };
}

/** The value of one sample line in a Prometheus exposition, e.g. `edgelm_runners{model="m"}`. */
export function sampleValue(text: string, series: string): number | undefined {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`^${escaped} (\\S+)$`, "m").exec(text);
  return match ? Number(match[1]) : undefined;
}

/** Sum of every sample of `name` whose labels include all of `labels`. */
export function sumSamples(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const match of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, "gm"))) {
    const have = match[1]!;
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(match[2]);
  }
  return sum;
}
