/**
 * The composition root: one edge node = engine (a runner factory chosen by
 * engine.backend), scheduler and server (the `Gateway`: one ModelPool per
 * served model, the HTTP app and its dialects), router (`Routing`: routed
 * models and the event outbox, attached to the gateway) and ops (`GatewayOps`:
 * metrics, policies, /metrics and /admin/*), rollouts (`FleetRollout`: models
 * that follow a registry tag, /admin/rollout) and the gRPC API (`GrpcServer`,
 * when server.grpc.port is set), and signed admin commands over MQTT
 * (`MqttCommandChannel`, router.events.commands), and the web console (`/console/`,
 * server.console), and federated rounds (`RoundCoordinator` and its /federated/* routes,
 * `FederatedParticipant`, server.federated). `edgelm serve` uses it, and so can
 * a library user; no other module wires rooms together.
 *
 *   const node = await EdgeNode.create(config);
 *   const url = await node.listen();
 *   await node.whenReady();
 *   ...
 *   await node.close();
 */
import type { Config } from "./config/schema.js";
import type { EngineChoice } from "./engine/engine-choice.js";
import type { RunnerFactory } from "./engine/runner.js";
import { selectRunnerFactory } from "./engine/select-runner-factory.js";
import type { GrpcServer } from "./grpc/grpc-server.js";
import { consoleEnabled } from "./config/sections/server.js";
import { registerConsoleRoutes } from "./console/console-routes.js";
import { commandChannelFromConfig } from "./ops/command-channel-from-config.js";
import { GatewayOps, type GatewayOpsOptions } from "./ops/gateway-ops.js";
import type { MqttCommandChannel } from "./ops/mqtt-command-channel.js";
import { FederatedParticipant } from "./federate/federated-participant.js";
import { registerFederatedRoutes } from "./federate/federated-routes.js";
import { RoundCoordinator } from "./federate/round-coordinator.js";
import { logger } from "./log.js";
import { pullFirstVersions } from "./rollout/first-version.js";
import { FleetRollout } from "./rollout/fleet-rollout.js";
import { Routing } from "./router/routing.js";
import type { ServedModelSpec } from "./scheduler/model-pool.js";
import type { ApiDialect } from "./server/api-dialect.js";
import { Gateway, type CloseOptions } from "./server/gateway.js";
import { planServedModels } from "./server/served-model-specs.js";

export interface EdgeNodeOptions {
  /** Models to serve; default: config.server.models, else the built-in demo model. */
  models?: ServedModelSpec[];
  /** How runner processes are made; default: by engine.backend (see engine-choice.ts), for `engine` when given. */
  runnerFactory?: RunnerFactory;
  /** The engine already chosen (edgelm serve prints it); default: chosen from the config. */
  engine?: EngineChoice;
  /** API dialects; default OpenAI, Ollama, then llama-server's native routes. */
  dialects?: ApiDialect[];
  /** Ops (metrics, policies, admin API) and its options, or false for none. Default: attached with defaults. */
  ops?: GatewayOpsOptions | false;
  /** The clock the router's circuit breakers read, in ms. Default Date.now (tests pass a manual clock). */
  now?: () => number;
}

export class EdgeNode {
  private closePromise: Promise<void> | undefined;

  private constructor(
    readonly config: Config,
    /** Served models, admission, runner supervision and the HTTP app. */
    readonly gateway: Gateway,
    /** Routed models and the event outbox (present even when nothing is routed). */
    readonly routing: Routing,
    /** Metrics, policies and the admin API, unless the node was made with `ops: false`. */
    readonly ops: GatewayOps | undefined,
    /** Followers of registry tags (server.models[].follow) and /admin/rollout. */
    readonly rollout: FleetRollout,
    /** The gRPC API, when server.grpc.port is set. */
    readonly grpc: GrpcServer | undefined,
    /** Signed admin commands over MQTT (router.events.commands), when configured and ops are attached. */
    readonly commands: MqttCommandChannel | undefined,
    /** The web console's routes, when server.console (or its default) has it on. */
    private readonly console: { close(): void } | undefined,
    /** Federated rounds this gateway publishes and aggregates (server.federated.coordinator). */
    readonly coordinator: RoundCoordinator | undefined,
    /** This gateway's part in a coordinator's rounds (server.federated.participate). */
    readonly participant: FederatedParticipant | undefined,
  ) {}

  /** Wires a node for `config` (not listening yet; routes may still be added to `gateway.app`). */
  static async create(config: Config, options: EdgeNodeOptions = {}): Promise<EdgeNode> {
    if (!options.models) await pullFirstVersions(config);
    const specs = options.models ?? (await planServedModels(config)).specs;
    const runnerFactory = options.runnerFactory ?? (await selectRunnerFactory(config, options.engine));
    const gateway = new Gateway(config, specs, { runnerFactory, ...(options.dialects ? { dialects: options.dialects } : {}) });
    const routing = Routing.attach(gateway, config, options.now ? { now: options.now } : {});
    let ops: GatewayOps | undefined;
    let commands: MqttCommandChannel | undefined;
    if (options.ops !== false) {
      // Commands run on the admin routes ops registers (called only once the node listens).
      commands = commandChannelFromConfig(config, gateway.app);
      const router = routing.weights();
      ops = GatewayOps.attach(gateway, config, {
        ...(router ? { router } : {}),
        ...(routing.outbox ? { outbox: routing.outbox } : {}),
        ...(routing.answerEvents ? { answerEvents: routing.answerEvents } : {}),
        ...(commands ? { commands } : {}),
        ...options.ops,
      });
    } else if (config.router.events?.commands) {
      logger.warn("router.events.commands is ignored: this node has no admin API (ops are off)");
    }
    const rollout = FleetRollout.attach(gateway, config, { ...(ops?.metrics ? { metrics: ops.metrics } : {}), ...(ops ? { alerts: ops.alerts } : {}) });
    // gRPC's libraries load only when the API is on (every CLI command imports this module).
    const grpc = config.server.grpc.port !== undefined ? new (await import("./grpc/grpc-server.js")).GrpcServer(gateway, config) : undefined;
    let webConsole: { close(): void } | undefined;
    if (consoleEnabled(config.server)) {
      try {
        webConsole = registerConsoleRoutes(gateway.app, { config, gateway, peers: () => routing.peers(), ...(ops ? { ops } : {}) });
      } catch (error) {
        // A package without its console files still serves the APIs; it says what is missing.
        logger.warn(`the web console is off: ${(error as Error).message}`);
      }
    }
    const federated = config.server.federated;
    const coordinator = federated.coordinator ? new RoundCoordinator(config, federated.coordinator) : undefined;
    if (coordinator) registerFederatedRoutes(gateway.app, coordinator, { apiKeys: config.server.api_keys, adminKeys: config.server.admin_keys });
    const participant = federated.participate ? new FederatedParticipant(config) : undefined;
    return new EdgeNode(config, gateway, routing, ops, rollout, grpc, commands, webConsole, coordinator, participant);
  }

  /**
   * Binds server.host:server.port (and the gRPC port when set), starts every
   * model in the background and the outbox; resolves with the base URL.
   */
  async listen(): Promise<string> {
    const url = await this.gateway.listen();
    try {
      await this.grpc?.listen();
    } catch (error) {
      await this.gateway.close({ graceMs: 0 });
      throw error;
    }
    await this.routing.start();
    this.rollout.start();
    await this.commands?.start();
    this.participant?.start();
    return url;
  }

  /** Resolves once every model has loaded or failed. */
  whenReady(): Promise<void> {
    return this.gateway.whenReady();
  }

  /**
   * Stops ops (policies, sampling), then the gateway (in-flight requests get
   * the grace period, see Gateway.close), then the outbox. Safe to call more than once.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closePromise ??= (async () => {
      this.rollout.stop();
      this.console?.close();
      this.coordinator?.close();
      await this.participant?.close();
      await this.commands?.close();
      const graceMs = options.graceMs ?? this.config.server.shutdown_grace_s * 1000;
      await Promise.all([this.ops?.close(), this.gateway.close(options), this.grpc?.close(graceMs)]);
      await this.routing.stop();
    })();
    return this.closePromise;
  }
}
