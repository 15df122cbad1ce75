/**
 * `edgelm serve`: the gateway. Serves models over OpenAI- and Ollama-compatible
 * HTTP (and gRPC with --grpc-port), one runner process per model; stops gracefully on SIGTERM / SIGINT.
 */
import { resolve as resolvePath } from "node:path";
import { checkAdaptersForBase, parseAdapterFlag } from "../adapt/lora-adapter.js";
import type { Command } from "commander";
import type { ConfigInput } from "../config/schema.js";
import { logger } from "../log.js";
import { DEMO_NOTICE, resolveModel } from "../store/resolve-model.js";
import { chooseEngine, describeEngine } from "../engine/engine-choice.js";
import { EdgeNode } from "../edge-node.js";
import { SystemdNotifier } from "../ops/systemd-notifier.js";
import { launcherProcesses, watchLauncher } from "../launcher-watch.js";
import { pullFirstVersions } from "../rollout/first-version.js";
import { planMemoryFit } from "../server/memory-fit.js";
import { configuredResidency } from "../engine/weight-residency.js";
import { parseModelFlag, planServedModels } from "../server/served-model-specs.js";
import { storeVariantFinder } from "../ops/variant-ladder.js";
import { ModelStore } from "../store/model-store.js";
import type { ServedModelStatus } from "../scheduler/served-model.js";
import { action, collect, commandConfig, integerFlag, usageError } from "./cli-kit.js";
import { addEngineFlags, engineFlags, type ModelFlagValues } from "./model-flags.js";

interface ServeFlags extends Omit<ModelFlagValues, "model"> {
  model?: string[];
  lora?: string[];
  host?: string;
  port?: number;
  grpcPort?: number;
  apiKey?: string[];
  parallel?: number;
  queue?: number;
  follow?: string[];
  rolloutGroup?: string;
}

/** A `--follow` value: `<name>=oci://host/repo:tag`. */
function parseFollowFlag(text: string): { name: string; follow: string } {
  const match = /^([A-Za-z0-9][A-Za-z0-9._:-]*)=(oci:\/\/.+)$/.exec(text.trim());
  if (!match) throw usageError(`--follow must be <name>=oci://host[:port]/repo:tag (got "${text}")`, "--follow");
  return { name: match[1]!, follow: match[2]! };
}

export function registerServe(program: Command): void {
  const command = program
    .command("serve")
    .description("serve models over OpenAI- and Ollama-compatible HTTP APIs")
    .option("-m, --model <ref>", "a model to serve: <ref> or <name>=<ref> (repeatable; default: server.models, else the built-in demo)", collect)
    .option("--lora <file[:scale]>", "apply a LoRA adapter to every request of the one served model (repeatable; per-request adapters: server.models[].adapters)", collect)
    .option("--host <address>", "address to bind (default 127.0.0.1; other addresses are reachable from the network)")
    .option("-p, --port <port>", "port (default 11435; 0 picks a free one)", integerFlag("--port", { min: 0, max: 65535 }))
    .option("--grpc-port <port>", "also serve the gRPC API (edgelm.v1.Inference) on this port (0 picks a free one; default: off)", integerFlag("--grpc-port", { min: 0, max: 65535 }))
    .option("--api-key <key>", "require this bearer key on every API route (repeatable)", collect)
    .option("--parallel <n>", "sequences each runner decodes together (default 4)", integerFlag("--parallel", { min: 1, max: 256 }))
    .option("--follow <name=oci-ref>", "serve <name> from a registry tag and take its new digests (health-gated; repeatable; see docs/fleet.md)", collect)
    .option("--rollout-group <group>", "this gateway's rollout wave (one of server.rollout.waves, e.g. canary)")
    .option("--queue <n>", "requests that may wait beyond the slots before 429 (default 64)", integerFlag("--queue", { min: 0, max: 100_000 }))
    .option("-c, --ctx <tokens>", "context size per sequence (default: the model's, at most 4096)", integerFlag("--ctx", { min: 16, max: 1 << 20 }))
    .option("--threads <n>", "decode threads per runner (default: tuned by measurement)", integerFlag("--threads", { min: 1, max: 1024 }))
    .option("--prompt-threads <n>", "prompt-processing threads per runner (default: as --threads)", integerFlag("--prompt-threads", { min: 1, max: 1024 }))
    .option("--config <file>", "config file (default: ./edgelm.yaml, then $EDGELM_HOME/config.yaml)");
  addEngineFlags(command).action(action(serveCommand));
}

function serverFlags(flags: ServeFlags): ConfigInput {
  const server: Record<string, unknown> = {};
  if (flags.host !== undefined) server.host = flags.host;
  if (flags.port !== undefined) server.port = flags.port;
  if (flags.grpcPort !== undefined) server.grpc = { port: flags.grpcPort };
  if (flags.apiKey !== undefined) server.api_keys = flags.apiKey;
  if (flags.parallel !== undefined) server.parallel = flags.parallel;
  if (flags.queue !== undefined) server.queue = flags.queue;
  if (flags.model !== undefined || flags.follow !== undefined) {
    server.models = [...(flags.model ?? []).map(parseModelFlag), ...(flags.follow ?? []).map(parseFollowFlag)];
  }
  if (flags.rolloutGroup !== undefined) server.rollout = { group: flags.rolloutGroup };
  const { model: _models, follow: _follow, rolloutGroup: _group, lora: _lora, ...modelFlags } = flags;
  return { ...engineFlags(modelFlags), ...(Object.keys(server).length > 0 ? { server } : {}) } as ConfigInput;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

async function serveCommand(flags: ServeFlags): Promise<void> {
  const config = commandConfig(flags, serverFlags(flags), "info");
  await pullFirstVersions(config);
  const plan = await planServedModels(config);
  if (flags.lora && flags.lora.length > 0) {
    if (plan.specs.length !== 1) throw usageError(`--lora applies to one served model, and ${plan.specs.length} are served; list adapters under server.models[].adapters instead`, "--lora");
    const spec = plan.specs[0]!;
    const applied = flags.lora.map(parseAdapterFlag).map((a) => ({ path: resolvePath(a.path), scale: a.scale }));
    // Checked against the model before any runner loads them together.
    await checkAdaptersForBase((await resolveModel(spec.ref, config, { allowDownload: false })).path, applied);
    spec.appliedAdapters = applied;
  }
  if (plan.demo) process.stderr.write(`${DEMO_NOTICE}\n`);
  if (!isLoopback(config.server.host) && config.server.api_keys.length === 0) {
    logger.warn(
      `binding ${config.server.host} without API keys: anyone who can reach this address can use the models; set --api-key or server.api_keys`,
    );
  }
  const choice = await chooseEngine(config);
  // The fit planner: every model must fit this machine's memory (or its cgroup limit) before any load.
  const fit = await planMemoryFit(plan.specs, config, { engine: configuredResidency(config, choice.backend), variants: storeVariantFinder(ModelStore.open(config)) });
  for (const model of fit.fits) logger.info(`memory: ${model.reason}`);
  const node = await EdgeNode.create(config, { models: fit.specs, engine: choice });
  const gateway = node.gateway;
  const url = await node.listen();
  process.stdout.write(`edgelm gateway listening on ${url} (OpenAI: ${url}/v1, Ollama: ${url}/api)\n`);
  if (node.grpc) process.stdout.write(`gRPC API listening on ${node.grpc.address}${node.grpc.tls ? " (TLS)" : ""} (edgelm.v1.Inference, health, reflection)\n`);
  process.stdout.write(`engine: ${describeEngine(choice)}\n`);

  // Under a systemd Type=notify unit: READY=1 once the models are loaded, watchdog pings, STOPPING=1 (the protocol's
  // variables come from the service manager, not from edgelm's config).
  const systemd = SystemdNotifier.fromEnvironment(process.env);
  systemd?.startWatchdog();
  let signals = 0;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) {
        void systemd?.stopping(`${signal}: draining in-flight requests (${config.server.shutdown_grace_s} s)`);
        logger.info(`${signal}: shutting down (in-flight requests get ${config.server.shutdown_grace_s} s to finish)`);
        node.close().then(() => resolve(), (error: unknown) => {
          logger.error(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
          resolve();
        });
      } else {
        logger.warn(`${signal} again: cancelling in-flight requests now`);
        void gateway.close({ graceMs: 0 });
        setTimeout(() => process.exit(0), 3000).unref();
      }
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    // Started through npx / npm run: when npm goes (`kill $!` after `npx edgelm serve &`), shut down as on SIGTERM
    // instead of staying on the port as an orphan (npm's variables come from npm, not from edgelm's config).
    watchLauncher(launcherProcesses(process.env), (gone) => {
      logger.info(`the process that started the gateway (npm, pid ${gone.pid}) exited`);
      onSignal("SIGTERM");
    });
  });

  void gateway.whenReady().then(() => {
    for (const model of gateway.models()) process.stdout.write(`${describeModel(model)}\n`);
    const ready = gateway.models().filter((m) => m.state === "ready").length;
    void systemd?.ready(`serving ${ready} of ${gateway.models().length} models on ${url}`);
    if (gateway.models().every((m) => m.state === "failed")) {
      logger.error("no model could be started; the gateway answers 503 until one is swapped in (see /ready)");
    }
  });

  await stopped;
  process.stdout.write("edgelm gateway stopped\n");
  // Runner processes are gone and the server is closed; nothing should hold the process, but never hang on exit.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}

function describeModel(model: ServedModelStatus): string {
  if (model.state !== "ready") return `  ${model.name}  ${model.state}: ${model.reason ?? "not ready"}`;
  const info = model.info;
  const runners = model.runners.filter((r) => !r.draining);
  const hash = model.sha256 ? `sha256 ${model.sha256.slice(0, 12)}… ${model.hashVerified ? "verified" : "(no recorded hash to check)"}` : "";
  const trust = model.trust ? `, ${model.trust.summary}` : "";
  return (
    `  ${model.name}  ready  ${runners[0]?.backend ?? ""}, ${runners.length} runner${runners.length === 1 ? "" : "s"} × ${model.parallel} slots, ` +
    `ctx ${info?.contextSize ?? "?"}, ${model.summary?.predominantType ?? ""}, ${hash}${trust}  (${model.path})`
  );
}
