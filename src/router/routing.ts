/**
 * The router's attachment to a gateway: builds the `Router` (config `router`),
 * one `RoutedModel` per route (answering with its local model) and the durable
 * `Outbox` (config `router.events`); registers POST /v1/events, which appends
 * to that outbox, and the rules (`router.events.emit`) that turn local answers
 * into events in it. The gateway knows none of these types: it only serves the
 * routed models it is given, like its own.
 *
 *   const routing = Routing.attach(gateway, config);   // before listen()
 *   await routing.start();                             // after listen(): the outbox starts forwarding
 *   await routing.stop();                              // after the gateway closed
 */
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import { logger } from "../log.js";
import type { GatewayEvents } from "../scheduler/gateway-events.js";
import type { ModelPool } from "../scheduler/model-pool.js";
import type { ServedModel } from "../scheduler/served-model.js";
import { AnswerEvents } from "./answer-events.js";
import { registerEventsEndpoint } from "./events-endpoint.js";
import { DnsPeerDiscovery } from "./dns-peer-discovery.js";
import type { Outbox } from "./outbox.js";
import { outboxFromConfig } from "./outbox-from-config.js";
import { redactorFromConfig } from "./redactor.js";
import { RoutedModel } from "./routed-model.js";
import { Router, type PeerTarget, type RouteWeights } from "./router.js";

/** What routing needs from the gateway it attaches to (Gateway implements it). */
export interface RoutingHost {
  readonly app: FastifyInstance;
  /** The gateway's events (answers for router.events.emit). */
  readonly events: GatewayEvents;
  /** The local model served as `name`, if any. */
  findLocal(name: string): ModelPool | undefined;
  /** Names of the locally served models (for error messages). */
  localNames(): string[];
  /** Serves `model` under its name; `local` (the model it answers with) cannot be removed while it is served. */
  addRoutedModel(model: ServedModel, local: string): void;
}

export interface RoutingOptions {
  /** The clock the circuit breakers read, in ms. Default Date.now. */
  now?: () => number;
}

export class Routing {
  private constructor(
    /** Routing to peers and the cloud; undefined when no routes are configured. */
    readonly router: Router | undefined,
    /** The durable outbox behind POST /v1/events; undefined without router.events. */
    readonly outbox: Outbox | undefined,
    /** Peers found through DNS (router.peers_dns), feeding the router's peer list. */
    private readonly peerDiscovery: DnsPeerDiscovery | undefined,
    /** Events from local answers (router.events.emit); undefined without rules. */
    readonly answerEvents: AnswerEvents | undefined,
  ) {}

  /** Builds what config.router asks for and attaches it to `host` (call before the gateway listens). */
  static attach(host: RoutingHost, config: Config, options: RoutingOptions = {}): Routing {
    let router: Router | undefined;
    if (config.router.routes.length > 0) {
      router = new Router(
        config.router,
        { onBreakerChange: (upstream, state) => logger.warn(`upstream ${upstream}: circuit ${state.replace("_", "-")}`) },
        Math.random,
        options.now,
      );
      for (const route of config.router.routes) {
        if (host.localNames().includes(route.name)) throw new EdgeError("invalid_config", `router.routes: "${route.name}" is also a served model's name`);
        const local = host.findLocal(route.local);
        if (!local) {
          throw new EdgeError("invalid_config", `router.routes: route "${route.name}" answers with local model "${route.local}", which is not served (served: ${host.localNames().join(", ")})`);
        }
        host.addRoutedModel(new RoutedModel(route.name, router, local, config.router.private_api_keys), local.name);
      }
    }
    const dns = config.router.peers_dns;
    const peerDiscovery =
      router && dns
        ? new DnsPeerDiscovery(dns, {
            selfPort: config.server.port,
            onPeers: (peers) => {
              router.setDiscoveredPeers(peers);
              logger.info(`peers_dns ${dns.name}: ${peers.length} peer(s)${peers.length > 0 ? `: ${peers.map((p) => p.address).join(", ")}` : ""}`);
            },
            onError: (error) => logger.warn(error.message),
          })
        : undefined;
    const events = config.router.events;
    const outbox = events
      ? outboxFromConfig(events, join(config.home, "outbox"), (sink, records, delivered, error) => {
          if (error) logger.debug(`sink ${sink}: event ${records[delivered]?.seq ?? "-"} not delivered yet: ${(error as Error).message}`);
        })
      : undefined;
    registerEventsEndpoint(host.app, outbox);
    let answerEvents: AnswerEvents | undefined;
    if (outbox && events && events.emit.length > 0) {
      answerEvents = new AnswerEvents(events.emit, outbox, redactorFromConfig(config.router.redaction), events.gateway_id);
      answerEvents.attach(host.events);
    }
    return new Routing(router, outbox, peerDiscovery, answerEvents);
  }

  /**
   * The router's load weights as policies and operators turn them
   * (shift_to_peer, /admin/routing/weights); undefined when nothing is routed.
   */
  weights(): { readonly peerCount: number; getWeights(): RouteWeights; setWeights(weights: Partial<RouteWeights>): void } | undefined {
    const router = this.router;
    if (!router) return undefined;
    return {
      get peerCount() {
        return router.peerNames.length;
      },
      getWeights: () => router.getWeights(),
      setWeights: (weights) => router.setWeights(weights),
    };
  }

  /** The peer gateways requests may go to now (configured and discovered), for the console's fleet view; none when nothing is routed. */
  peers(): PeerTarget[] {
    return this.router?.peerTargets() ?? [];
  }

  /** Starts forwarding the outbox's backlog and resolving router.peers_dns (call once the gateway listens). */
  async start(): Promise<void> {
    await this.peerDiscovery?.start();
    await this.outbox?.start();
  }

  /** Stops forwarding and peer discovery; what is not delivered stays on disk for the next start. */
  async stop(): Promise<void> {
    this.peerDiscovery?.close();
    await this.answerEvents?.detach();
    await this.outbox?.stop();
  }
}
